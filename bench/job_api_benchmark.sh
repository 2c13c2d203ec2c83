#!/usr/bin/env bash
# The job API against the job library, side by side in one run (bench/job_api_bench.cc):
#   Start RPC latency to RUNNING, 1 and 8 concurrent clients, against JobRunner::Start +
#     WaitUntilStarted on the same runner;
#   a job writing 1 GiB streamed to 1 and to 16 concurrent `gatehouse logs -f` processes,
#     against the library's own readers; CPU per GiB delivered; the daemon part's peak RSS for a
#     64 MiB and a 1 GiB output.
#
#   bench/job_api_benchmark.sh [starts] [rounds]    defaults: 400 starts per path, 3 rounds
# Needs root (cgroups, namespaces). Prints Markdown and writes bench/results/job-api.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

starts=${1:-400}
rounds=${2:-3}

make --no-print-directory build >/dev/null

{
  build/release/bin/job_api_bench --cli build/release/bin/gatehouse --runs "$starts" \
    --rounds "$rounds"
  echo
  echo "$(nproc) CPUs; $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)."
} | tee bench/results/job-api.md
