#!/usr/bin/env bash
# On-demand apps (RFD 0002): what a cold start costs on top of the server's own start-up, and what
# the warm path costs against a static upstream. Needs root (the servers run as jobs).
#
#   bench/launch_benchmark.sh [cold-starts] [warm-seconds] [warm-repetitions]
#   defaults: 50 5 3
#
# 1. Cold start, for bench/echo_server and for python3 -m http.server: connect -> first reply
#    byte through gatehoused (a plain-TCP app with `launch`, idle_timeout 1s; before each sample
#    the script waits until the app's server has been stopped, so every sample is a cold start),
#    against the same command started directly on the host by bench/cold_start_probe, which
#    connects every millisecond until it accepts and then does the same exchange (the server's
#    own start-up time). `cold-starts` samples of each, interleaved; p50 and p99.
# 2. Warm path: 64-byte echo through gatehoused over 16 connections (gatebench rr), to an app
#    whose echo_server runs on demand in a job (started before the run) and to an app with the
#    same echo_server as a static upstream on the host; p50/p99 latency and requests/s, runs
#    interleaved, medians.
# gatehoused runs on CPU 0, the clients and servers on CPU 1. Prints Markdown tables and writes
# them to bench/results/launch.md.
set -euo pipefail
command_line="bench/launch_benchmark.sh${*:+ $*}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

samples=${1:-50}
warm_seconds=${2:-5}
warm_reps=${3:-3}
for value in "$samples" "$warm_seconds" "$warm_reps"; do
  if ! [[ $value =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bench/launch_benchmark.sh [cold-starts] [warm-seconds] [warm-repetitions]" >&2
    exit 2
  fi
done
if [[ $(id -u) -ne 0 ]]; then
  echo "bench/launch_benchmark.sh needs root: on-demand servers run as jobs" >&2
  exit 1
fi
# shellcheck source=bench/lib.sh
source bench/lib.sh

cmake --build build/release --target gatehoused gatebench echo_server cold_start_probe >/dev/null
bin=$PWD/build/release/bin
python=/usr/bin/python3
echo_port=9311      # static upstream (host)
direct_port=9312    # baseline servers (host)
cold_echo_port=9313 # gatehoused apps
cold_http_port=9314
warm_launch_port=9315
warm_static_port=9316
admin_port=9317

"$bin/echo_server" --listen "127.0.0.1:$echo_port" &
pids+=($!)
wait_for_port "$echo_port"

cat >"$work/gatehouse.yaml" <<EOF
log: {level: warn}
dev_pki: {dir: $work/pki}
admin: {listen: 127.0.0.1:$admin_port}
authorization:
  apps:
    cold-echo: {users: ["*"]}
    cold-http: {users: ["*"]}
    warm-launch: {users: ["*"]}
    warm-static: {users: ["*"]}
lb:
  workers: 1
  apps:
    - name: cold-echo
      listen: [127.0.0.1:$cold_echo_port]
      tls: none
      launch:
        command: [$bin/echo_server, --listen, 127.0.0.1:8080]
        port: 8080
        idle_timeout: 1s
    - name: cold-http
      listen: [127.0.0.1:$cold_http_port]
      tls: none
      launch:
        command: [$python, -m, http.server, --bind, 127.0.0.1, "8080"]
        port: 8080
        idle_timeout: 1s
    - name: warm-launch
      listen: [127.0.0.1:$warm_launch_port]
      tls: none
      launch:
        command: [$bin/echo_server, --listen, 127.0.0.1:8080]
        port: 8080
        idle_timeout: 10m
    - name: warm-static
      listen: [127.0.0.1:$warm_static_port]
      tls: none
      upstreams: [127.0.0.1:$echo_port]
jobs:
  listen: 127.0.0.1:0
  state_dir: $work/state
  cgroup_parent: gatehouse-bench-$$
  stop_grace: 1s
EOF
taskset -c 0 "$bin/gatehoused" --config "$work/gatehouse.yaml" >"$work/gatehoused.log" 2>&1 &
daemon=$!
pids+=("$daemon")
wait_for_port "$admin_port"

metric() {
  curl -s "http://127.0.0.1:$admin_port/metrics" | awk -v name="$1" '$1 == name {print $2}'
}

# Waits (up to 30 s) until app $1 has no server running.
wait_for_no_instance() {
  for _ in $(seq 1 600); do
    [[ $(metric "gatehouse_lb_launch_instances{app=\"$1\"}") == 0 ]] && return 0
    sleep 0.05
  done
  echo "app $1: its server did not stop" >&2
  return 1
}

# Prints p50 and p99 (milliseconds, 2 decimals) of the microsecond samples in file $1.
percentiles() {
  sort -n "$1" | awk '{v[NR] = $1} END {
    p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1];
    printf "%.2f %.2f\n", p50 / 1000, p99 / 1000 }'
}

http_request='GET / HTTP/1.0\r\n\r\n'
for i in $(seq 1 "$samples"); do
  wait_for_no_instance cold-echo
  taskset -c 1 "$bin/cold_start_probe" --target "127.0.0.1:$cold_echo_port" --request x \
    >>"$work/gatehouse-echo"
  taskset -c 1 "$bin/cold_start_probe" --target "127.0.0.1:$direct_port" --request x \
    --spawn "$bin/echo_server" --listen "127.0.0.1:$direct_port" >>"$work/direct-echo"
  wait_for_no_instance cold-http
  taskset -c 1 "$bin/cold_start_probe" --target "127.0.0.1:$cold_http_port" \
    --request "$http_request" >>"$work/gatehouse-http"
  taskset -c 1 "$bin/cold_start_probe" --target "127.0.0.1:$direct_port" \
    --request "$http_request" \
    --spawn "$python" -m http.server --bind 127.0.0.1 "$direct_port" >>"$work/direct-http" 2>/dev/null
  printf '\rcold starts: %d/%d' "$i" "$samples" >&2
done
echo >&2

# Warm path: start the launched echo server, then interleave the two apps.
taskset -c 1 "$bin/cold_start_probe" --target "127.0.0.1:$warm_launch_port" --request x >/dev/null
warm_row() {  # app port rep -> "p50_us p99_us rps"
  taskset -c 1 "$bin/gatebench" rr --target "127.0.0.1:$2" --connections 16 --threads 1 \
    --size 64 --duration "${warm_seconds}s" --quiet --json "$work/$1-$3.json" >/dev/null
  python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(r["latency"]["p50_ns"] / 1e3, r["latency"]["p99_ns"] / 1e3, r["total"]["requests_per_second"])' \
    "$work/$1-$3.json"
}
for rep in $(seq 1 "$warm_reps"); do
  warm_row warm-static "$warm_static_port" "$rep" >>"$work/warm-static"
  warm_row warm-launch "$warm_launch_port" "$rep" >>"$work/warm-launch"
done

median_column() {  # file column
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

read -r ge50 ge99 < <(percentiles "$work/gatehouse-echo")
read -r de50 de99 < <(percentiles "$work/direct-echo")
read -r gh50 gh99 < <(percentiles "$work/gatehouse-http")
read -r dh50 dh99 < <(percentiles "$work/direct-http")
s50=$(median_column "$work/warm-static" 1)
s99=$(median_column "$work/warm-static" 2)
srps=$(median_column "$work/warm-static" 3)
l50=$(median_column "$work/warm-launch" 1)
l99=$(median_column "$work/warm-launch" 2)
lrps=$(median_column "$work/warm-launch" 3)

{
  echo "# On-demand apps: cold start and warm path"
  echo
  echo "\`$command_line\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)."
  echo "gatehoused on CPU 0 (lb.workers 1, log level warn); clients and servers on CPU 1."
  echo
  echo "## Cold start: connect -> first reply byte, $samples samples each (ms)"
  echo
  echo "| server | gatehoused p50 | direct p50 | overhead p50 | gatehoused p99 | direct p99 |"
  echo "|---|---|---|---|---|---|"
  awk -v g="$ge50" -v d="$de50" -v g9="$ge99" -v d9="$de99" 'BEGIN {
    printf "| bench/echo_server | %.2f | %.2f | %.2f | %.2f | %.2f |\n", g, d, g - d, g9, d9 }'
  awk -v g="$gh50" -v d="$dh50" -v g9="$gh99" -v d9="$dh99" 'BEGIN {
    printf "| python3 -m http.server | %.2f | %.2f | %.2f | %.2f | %.2f |\n", g, d, g - d, g9, d9 }'
  echo
  echo "Direct: the same command started on the host and connected to every millisecond until it"
  echo "accepts (its own start-up time). Target: overhead <= 5 ms at p50."
  echo
  echo "## Warm path: 64-byte echo, 16 connections, ${warm_seconds} s x $warm_reps (medians)"
  echo
  echo "| app | p50 us | p99 us | requests/s |"
  echo "|---|---|---|---|"
  echo "| static upstream (host echo_server) | $s50 | $s99 | $srps |"
  echo "| launch (echo_server in a job) | $l50 | $l99 | $lrps |"
  awk -v a="$l50" -v b="$s50" -v c="$l99" -v d="$s99" 'BEGIN {
    printf "| ratio launch/static | %.3f | %.3f | |\n", a / b, c / d }'
  echo
  echo "Target: warm request latency within 1.05x of the static upstream."
} | tee bench/results/launch.md
