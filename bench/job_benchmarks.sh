#!/usr/bin/env bash
# Job worker benchmarks, each side by side in one run with its peers:
#   start-to-exit latency of /bin/true (bench/job_start_bench.cc): the gatehouse JobRunner with
#     its namespaces and a cgroup with limits (created and removed for every job), against
#     `unshare --fork --pid --mount --net --uts --ipc --mount-proc`, bwrap with `--unshare-all`
#     and a bare posix_spawn, interleaved one launch of each per round;
#   output streaming (bench/job_output_bench.cc): a job writing 1 GiB read by 1 and by 16
#     concurrent readers, against `head` into a pipe spliced into a file on the same filesystem
#     (default and 1 MiB pipe), and the worker's peak RSS for a 64 MiB and a 1 GiB output.
#
#   bench/job_benchmarks.sh [runs]      runs: start-latency rounds (default 300)
# Needs root (cgroups, namespaces). Prints Markdown tables and writes them to
# bench/results/job-start.md and bench/results/job-output.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=${1:-300}

bash scripts/install-deps.sh --with bench
make --no-print-directory build >/dev/null

footer() { echo; echo "$(nproc) CPUs; $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)."; }

{
  build/release/bin/job_start_bench --runs "$runs"
  footer
} | tee bench/results/job-start.md

echo

{
  build/release/bin/job_output_bench --rounds 5
  footer
} | tee bench/results/job-output.md
