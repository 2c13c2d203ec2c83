#!/usr/bin/env bash
# Per-connection bandwidth limits (`lb.apps[].bandwidth`, issue #11): the rate each connection
# gets through a real gatehoused against the configured one, with gatebench tput.
#
#   bench/bandwidth_benchmark.sh [seconds-per-run]     default 6
#
# For each rate (1 MiB/s, 10 MiB/s, 50 MiB/s), each mode (plain TCP `tls: none`, and mTLS), each
# direction (an app with only `upload` set, one with only `download` set) and 1 and 4
# connections, gatebench tput streams 128 KiB writes into an echoing upstream (bench/echo_server)
# through the app. The figure is what comes back to gatebench per connection: for an upload
# limit that is what the proxy let through to the upstream (the echo returns it unthrottled),
# for a download limit what the proxy let through to the client. Bytes gatebench has written
# into its socket are not counted: on loopback, kernel buffers would hide megabytes of them.
#
# Two figures per row, from gatebench's 1-second intervals:
#   - steady: the intervals after the first, i.e. the long-run rate (target: within 5 % of the
#     configured rate);
#   - whole run: including the first second, where each direction's bucket starts full (its
#     burst is 100 ms of the rate, at least 4 KiB), so a short connection may exceed the rate by
#     that burst.
# Prints a Markdown table and writes it to bench/results/bandwidth.md.
set -euo pipefail
command_line="bench/bandwidth_benchmark.sh${*:+ $*}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-6}
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 3)); then
  echo "usage: bench/bandwidth_benchmark.sh [seconds-per-run] (a whole number, 3 or more)" >&2
  exit 2
fi
results_file=bench/results/bandwidth.md
rates=(1MiB 10MiB 50MiB)
declare -A rate_bytes=([1MiB]=1048576 [10MiB]=10485760 [50MiB]=52428800)
echo_port=26201
admin_port=26210
first_app_port=26211

bash scripts/install-deps.sh --with bench
make --no-print-directory build >/dev/null
bin=build/release/bin

# shellcheck source=bench/lib.sh
source bench/lib.sh

# One app per (rate, mode, direction), on consecutive ports.
declare -A app_port
next_port=$first_app_port
for rate in "${rates[@]}"; do
  for mode in plain tls; do
    for direction in upload download; do
      app_port[$rate-$mode-$direction]=$next_port
      next_port=$((next_port + 1))
    done
  done
done
require_free_ports "$echo_port-$((next_port - 1))" "$echo_port" "$admin_port" "${app_port[@]}"
make_bench_pki

{
  cat <<CFG
log: {level: warn}
tls: {ca: $pki/ca.pem, cert: $pki/server.pem, key: $pki/server.key}
admin: {listen: 127.0.0.1:$admin_port}
authorization:
  apps:
CFG
  for key in "${!app_port[@]}"; do
    if [[ $key == *-plain-* ]]; then
      echo "    bw-$key: {users: [\"*\"]}"
    else
      echo "    bw-$key: {users: [bench]}"
    fi
  done
  echo "lb:"
  echo "  apps:"
  for key in "${!app_port[@]}"; do
    IFS=- read -r rate mode direction <<<"$key"
    echo "    - name: bw-$key"
    echo "      listen: 127.0.0.1:${app_port[$key]}"
    echo "      upstreams: [127.0.0.1:$echo_port]"
    echo "      bandwidth: {$direction: $rate}"
    [[ $mode == plain ]] && echo "      tls: none"
  done
} >"$work/gatehouse.yaml"

"$bin/echo_server" --listen "127.0.0.1:$echo_port" &
pids+=($!)
"$bin/gatehoused" --config "$work/gatehouse.yaml" 2>"$work/gatehoused.log" &
pids+=($!)
wait_for_port "$echo_port"
for p in "${app_port[@]}"; do wait_for_port "$p"; done

# Per-connection receive rate in bytes/s from a gatebench JSON report: "steady whole".
rates_of() {
  python3 - "$1" "$2" <<'PY'
import json, sys
report, connections = json.load(open(sys.argv[1])), int(sys.argv[2])
intervals = report["intervals"]
steady = intervals[1:] or intervals
steady_bytes = sum(i["counters"]["bytes_received"] for i in steady)
steady_seconds = sum(i["end_seconds"] - i["start_seconds"] for i in steady)
whole = report["total"]["bytes_received"] / report["elapsed_seconds"]
print(steady_bytes / steady_seconds / connections, whole / connections)
PY
}

rows=()
for rate in "${rates[@]}"; do
  for mode in plain tls; do
    for direction in upload download; do
      for connections in 1 4; do
        args=(tput --target "127.0.0.1:${app_port[$rate-$mode-$direction]}"
          --connections "$connections" --threads 1 --duration "${seconds}s" --interval 1s
          --quiet --json "$work/run.json")
        [[ $mode == tls ]] && args+=("${tls_args[@]}")
        "$bin/gatebench" "${args[@]}" >"$work/run.txt"
        read -r steady whole < <(rates_of "$work/run.json" "$connections")
        configured=${rate_bytes[$rate]}
        row=$(python3 -c "
steady, whole, configured = $steady, $whole, $configured
mib = 1 << 20
print(f'| $rate | $mode | $direction | $connections | {steady / mib:.3f} | {steady / configured:.3f} | '
      f'{whole / mib:.3f} | {whole / configured:.3f} |')")
        rows+=("$row")
        echo "$row" >&2
      done
    done
  done
done

{
  echo "# Per-connection bandwidth limits"
  echo
  echo "Command: \`$command_line\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs)."
  echo "MiB/s received back by gatebench per connection through an echoing upstream; ratio ="
  echo "achieved / configured. Steady = the run without its first second."
  echo
  echo "| limit | mode | direction | connections | steady MiB/s | steady ratio | whole-run MiB/s | whole-run ratio |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$results_file"
