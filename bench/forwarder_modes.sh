#!/usr/bin/env bash
# The lb forwarder's splice modes (lb::SpliceMode: never = copy, always = splice, auto) side by
# side in one run, on the two workloads that pull them apart:
#   rr:    gatebench rr, 64 connections, 64-byte requests, through the proxy to bench/echo_server
#   tput:  gatebench tput, 1 connection, 128 KiB writes, through the proxy into
#          bench/echo_server --discard
# Each proxy runs one worker pinned to CPU 0; gatebench and the servers share CPU 1. HAProxy 2.6
# (`mode tcp`, `nbthread 1`, `option splice-auto`) runs as a peer when it is installed
# (bench/forwarder_throughput.sh installs it).
# Besides requests/s and Gbit/s, every run reads the proxy's CPU time (utime + stime from
# /proc/PID/stat): with one core for the load and the servers, that core saturates first, and the
# proxy's CPU per request (or per Gbit) is the figure that compares the proxies.
# Repetitions are interleaved (every target once, then again); the tables give medians.
#
#   bench/forwarder_modes.sh [seconds-per-run] [repetitions]
#   BIN_DIR=build/helper/bin bench/forwarder_modes.sh ...   # an existing build, no `make build`
# Writes the tables to bench/results/forwarder-modes.md as well.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-5}
reps=${2:-3}
proxy_cpu=0
load_cpu=1
echo_port=25501
sink_port=25502
if [[ -z ${BIN_DIR:-} ]]; then
  make --no-print-directory build >/dev/null
  BIN_DIR=build/release/bin
fi
results_file=bench/results/forwarder-modes.md

# shellcheck source=bench/lib.sh
source bench/lib.sh

taskset -c "$load_cpu" "$BIN_DIR/echo_server" --listen "127.0.0.1:$echo_port" >/dev/null 2>&1 &
pids+=($!)
taskset -c "$load_cpu" "$BIN_DIR/echo_server" --discard --listen "127.0.0.1:$sink_port" \
  >/dev/null 2>&1 &
pids+=($!)

# One proxy per target and workload: rr ports 256xx, tput ports 257xx.
targets=(copy splice auto)
declare -A proxy_pid port
next=0
for target in copy:never splice:always auto:auto; do
  name=${target%%:*}
  for workload in rr tput; do
    upstream=$echo_port
    [[ $workload == tput ]] && upstream=$sink_port
    port[$name,$workload]=$((25600 + next))
    next=$((next + 1))
    taskset -c "$proxy_cpu" "$BIN_DIR/lb_forward_server" --workers 1 --splice "${target#*:}" \
      --listen "127.0.0.1:${port[$name,$workload]}" --upstream "127.0.0.1:$upstream" >/dev/null &
    pids+=($!)
    proxy_pid[$name,$workload]=$!
  done
done
if command -v haproxy >/dev/null; then
  targets+=(haproxy)
  port[haproxy,rr]=25690
  port[haproxy,tput]=25691
  cat >"$work/haproxy.cfg" <<CFG
global
  nbthread 1
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  option splice-auto
frontend rr
  bind 127.0.0.1:${port[haproxy,rr]}
  default_backend echo
frontend tput
  bind 127.0.0.1:${port[haproxy,tput]}
  default_backend sink
backend echo
  server s1 127.0.0.1:${echo_port}
backend sink
  server s1 127.0.0.1:${sink_port}
CFG
  taskset -c "$proxy_cpu" haproxy -db -f "$work/haproxy.cfg" >/dev/null 2>&1 &
  pids+=($!)
  proxy_pid[haproxy,rr]=$!
  proxy_pid[haproxy,tput]=$!
fi
for p in "$echo_port" "$sink_port" "${port[@]}"; do wait_for_port "$p"; done

# One run: prints the rate (requests/s or Gbit/s), the proxy's CPU seconds during it, and its
# cost: CPU-µs per request (rr) or Gbit per CPU-second (tput).
measure() {
  local target=$1 workload=$2 before after rate
  before=$(cpu_ticks "${proxy_pid[$target,$workload]}")
  if [[ $workload == rr ]]; then
    taskset -c "$load_cpu" "$BIN_DIR/gatebench" rr --target "127.0.0.1:${port[$target,$workload]}" \
      --connections 64 --size 64 --threads 1 --duration "${seconds}s" --quiet \
      --json "$work/run.json" >/dev/null
    rate=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; assert t["errors"] == 0, t; print("%.0f" % t["requests_per_second"])' "$work/run.json")
  else
    taskset -c "$load_cpu" "$BIN_DIR/gatebench" tput --target "127.0.0.1:${port[$target,$workload]}" \
      --connections 1 --size 128KiB --threads 1 --duration "${seconds}s" --quiet \
      --json "$work/run.json" >/dev/null
    rate=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; print("%.2f" % (t["sent_bits_per_second"] / 1e9))' "$work/run.json")
  fi
  after=$(cpu_ticks "${proxy_pid[$target,$workload]}")
  python3 - "$workload" "$rate" "$((after - before))" "$(getconf CLK_TCK)" "$seconds" <<'PY'
import sys
workload, rate, ticks, hz, seconds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
cpu = ticks / hz
cost = cpu / max(rate * seconds, 1) * 1e6 if workload == "rr" else rate * seconds / max(cpu, 0.01)
print("%s %.2f %.2f" % (sys.argv[2], cpu, cost))
PY
}

declare -A rates cpus costs
for workload in rr tput; do
  for _ in $(seq 1 "$reps"); do
    for target in "${targets[@]}"; do
      read -r rate cpu_seconds cost < <(measure "$target" "$workload")
      rates[$target,$workload]+="$rate "
      cpus[$target,$workload]+="$cpu_seconds "
      costs[$target,$workload]+="$cost "
      echo "$target $workload: $rate, proxy CPU ${cpu_seconds} s, cost $cost" >&2
    done
  done
done

# shellcheck disable=SC2086  # word splitting of the space-separated run lists is intended
m() { median $1; }
{
  echo "Through each proxy (one worker on CPU 0; load and servers on CPU 1), medians of $reps interleaved runs of ${seconds} s."
  echo "rr: gatebench rr, 64 connections, 64-byte echo. tput: gatebench tput, 1 connection, 128 KiB writes, into a discard sink."
  echo
  echo "| proxy | rr requests/s | rr proxy CPU | CPU-µs per request | tput Gbit/s | tput proxy CPU | Gbit per CPU-second |"
  echo "|---|---|---|---|---|---|---|"
  for target in "${targets[@]}"; do
    python3 -c "print('| $target | %.0f | %.0f %% | %.2f | %.2f | %.0f %% | %.1f |' % (
        $(m "${rates[$target,rr]}"), $(m "${cpus[$target,rr]}") / $seconds * 100,
        $(m "${costs[$target,rr]}"), $(m "${rates[$target,tput]}"),
        $(m "${cpus[$target,tput]}") / $seconds * 100, $(m "${costs[$target,tput]}")))"
  done
  echo
  echo "$(nproc) CPUs; $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)."
} | tee "$results_file"
