#!/usr/bin/env bash
# On-demand apps (RFD 0002): what a cold start costs on top of the server's own start-up, and what
# the warm path costs against a static upstream. Needs root (the servers run as jobs).
#
#   bench/launch_benchmark.sh [cold-starts] [warm-seconds] [warm-repetitions]
#   defaults: 50 5 6
#
# 1. Cold start, for bench/echo_server and for python3 -m http.server: connect -> first reply
#    byte through gatehoused (a plain-TCP app with `launch`, idle_timeout 1s; before each sample
#    the script waits until the app's server has been stopped, so every sample is a cold start),
#    against the same command started directly on the host by bench/cold_start_probe, which
#    connects every millisecond until it accepts and then does the same exchange (the server's
#    own start-up time). `cold-starts` samples of each, interleaved; p50 and p99.
# 2. Warm path: 64-byte echo through gatehoused over 16 connections (gatebench rr), to an app
#    whose echo_server runs on demand in a job (started before the run), to an app with the
#    same echo_server as a static upstream on the host, and to one whose static echo_server runs
#    in CPU and memory cgroups with the job's limits; p50/p99 latency and requests/s, runs
#    interleaved in rotating order, medians.
# CPUs: for cold starts nothing is pinned (one thing happens at a time, and a job inherits the
# daemon's CPUs, so pinning the daemon would also pin the launched server away from the direct
# one). For the warm path gatehoused runs on CPU 0, the echo servers and gatebench on CPU 1.
# Prints Markdown tables and writes them to bench/results/launch.md.
set -euo pipefail
command_line="bench/launch_benchmark.sh${*:+ $*}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

samples=${1:-50}
warm_seconds=${2:-5}
warm_reps=${3:-6}
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
caged_port=9318     # static upstream (host, in a cgroup with the job's limits)
direct_port=9312    # baseline servers (host)
cold_echo_port=9313 # gatehoused apps
cold_http_port=9314
warm_launch_port=9315
warm_static_port=9316
warm_caged_port=9319
admin_port=9317

taskset -c 1 "$bin/echo_server" --listen "127.0.0.1:$echo_port" &
pids+=($!)
wait_for_port "$echo_port"

# "Caged": CPU and memory cgroups with the launched servers' limits (the jobs.default_limits
# below), for the baselines that tell the cost of the job's cgroup apart from Gatehouse's own:
# a cgroup slows a server's start-up, and changes how the scheduler interleaves a server with
# gatebench on CPU 1.
caged=gatehouse-bench-caged-$$
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  caged_dirs=("/sys/fs/cgroup/$caged")
  echo "+cpu +memory" >/sys/fs/cgroup/cgroup.subtree_control
  mkdir "${caged_dirs[0]}"
  echo "100000 100000" >"${caged_dirs[0]}/cpu.max"
  echo 536870912 >"${caged_dirs[0]}/memory.max"
else
  caged_dirs=("/sys/fs/cgroup/cpu/$caged" "/sys/fs/cgroup/memory/$caged")
  mkdir "${caged_dirs[@]}"
  echo 100000 >"${caged_dirs[0]}/cpu.cfs_period_us"
  echo 100000 >"${caged_dirs[0]}/cpu.cfs_quota_us"
  echo 536870912 >"${caged_dirs[1]}/memory.limit_in_bytes"
fi
# After the processes: the caged cgroups, and the empty cgroup_parent gatehoused leaves.
remove_cgroups() {
  cleanup
  for dir in "${caged_dirs[@]}"; do rmdir "$dir" 2>/dev/null || true; done
  find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name "gatehouse-bench-$$" -exec rmdir {} + \
    2>/dev/null || true
}
trap remove_cgroups EXIT
# Joins the caged cgroups and execs the command: call it in a subshell, `(caged ...)`, or in the
# background, `caged ... &`, so that $! is the command's pid.
caged() {
  for dir in "${caged_dirs[@]}"; do echo "$BASHPID" >"$dir/cgroup.procs"; done
  exec "$@"
}
caged taskset -c 1 "$bin/echo_server" --listen "127.0.0.1:$caged_port" &
pids+=($!)
wait_for_port "$caged_port"

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
    warm-caged: {users: ["*"]}
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
    - name: warm-caged
      listen: [127.0.0.1:$warm_caged_port]
      tls: none
      upstreams: [127.0.0.1:$caged_port]
jobs:
  listen: 127.0.0.1:0
  state_dir: $work/state
  cgroup_parent: gatehouse-bench-$$
  stop_grace: 1s
  default_limits: {cpu: 1, memory: 512MiB, pids: 256}
EOF
"$bin/gatehoused" --config "$work/gatehouse.yaml" >"$work/gatehoused.log" 2>&1 &
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
  "$bin/cold_start_probe" --target "127.0.0.1:$cold_echo_port" --request x \
    >>"$work/gatehouse-echo"
  "$bin/cold_start_probe" --target "127.0.0.1:$direct_port" --request x \
    -- "$bin/echo_server" --listen "127.0.0.1:$direct_port" >>"$work/direct-echo"
  (caged "$bin/cold_start_probe" --target "127.0.0.1:$direct_port" --request x \
    -- "$bin/echo_server" --listen "127.0.0.1:$direct_port") >>"$work/caged-echo"
  wait_for_no_instance cold-http
  "$bin/cold_start_probe" --target "127.0.0.1:$cold_http_port" \
    --request "$http_request" >>"$work/gatehouse-http"
  "$bin/cold_start_probe" --target "127.0.0.1:$direct_port" --request "$http_request" \
    -- "$python" -m http.server --bind 127.0.0.1 "$direct_port" >>"$work/direct-http"
  (caged "$bin/cold_start_probe" --target "127.0.0.1:$direct_port" --request "$http_request" \
    -- "$python" -m http.server --bind 127.0.0.1 "$direct_port") >>"$work/caged-http"
  printf '\rcold starts: %d/%d' "$i" "$samples" >&2
done
echo >&2

# Warm path: gatehoused's threads move to CPU 0; the launched echo server (a job inherits the
# daemon's CPUs) then moves to CPU 1, where the static ones run; then the three apps, interleaved,
# with 1 connection (latency alone) and with 16 (under load: the proxy's CPU is the bottleneck).
taskset -a -p -c 0 "$daemon" >/dev/null
taskset -c 1 "$bin/cold_start_probe" --target "127.0.0.1:$warm_launch_port" --request x >/dev/null
find /sys/fs/cgroup -path "*/gatehouse-bench-$$/*" -name cgroup.procs -exec cat {} + | sort -u |
  while read -r pid; do taskset -a -p -c 1 "$pid" >/dev/null; done
warm_row() {  # app port connections rep -> "p50_us p99_us rps"
  local json="$work/$1-$3-$4.json"
  taskset -c 1 "$bin/gatebench" rr --target "127.0.0.1:$2" --connections "$3" --threads 1 \
    --size 64 --duration "${warm_seconds}s" --quiet --json "$json" >/dev/null
  python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(r["latency"]["p50_ns"] / 1e3, r["latency"]["p99_ns"] / 1e3, r["total"]["requests_per_second"])' \
    "$json"
}
# The order of the three apps rotates from one repetition to the next: on this VM a run measures
# slower the later it comes in a round, which favoured whichever app always ran first.
warm_apps=(warm-static warm-caged warm-launch)
declare -A warm_labels=([warm-static]="static (host echo_server)"
  [warm-caged]="static, caged (host echo_server in the job's cgroup limits)"
  [warm-launch]="launch (echo_server in a job)")
declare -A warm_ports=([warm-static]=$warm_static_port [warm-caged]=$warm_caged_port
  [warm-launch]=$warm_launch_port)
warm_connections=(1 16)
for connections in "${warm_connections[@]}"; do
  for rep in $(seq 1 "$warm_reps"); do
    for slot in 0 1 2; do
      app=${warm_apps[$(((slot + rep) % 3))]}
      warm_row "$app" "${warm_ports[$app]}" "$connections" "$rep" >>"$work/$app-$connections"
    done
  done
done

median_column() {  # file column
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

read -r ge50 ge99 < <(percentiles "$work/gatehouse-echo")
read -r de50 de99 < <(percentiles "$work/direct-echo")
read -r gh50 gh99 < <(percentiles "$work/gatehouse-http")
read -r dh50 dh99 < <(percentiles "$work/direct-http")
read -r ce50 ce99 < <(percentiles "$work/caged-echo")
read -r ch50 ch99 < <(percentiles "$work/caged-http")

{
  echo "# On-demand apps: cold start and warm path"
  echo
  echo "\`$command_line\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)."
  echo "gatehoused: lb.workers 1, log level warn. Cold starts: nothing pinned to a CPU. Warm path:"
  echo "gatehoused on CPU 0, the echo servers and gatebench on CPU 1."
  echo
  echo "## Cold start: connect -> first reply byte, $samples samples each (ms)"
  echo
  echo "| server | | gatehoused | direct | direct, caged | overhead vs direct | vs direct, caged |"
  echo "|---|---|---|---|---|---|---|"
  cold_rows() {  # name g50 d50 c50 g99 d99 c99
    awk -v n="$1" -v g="$2" -v d="$3" -v c="$4" -v g9="$5" -v d9="$6" -v c9="$7" 'BEGIN {
      printf "| %s | p50 | %.2f | %.2f | %.2f | %.2f | %.2f |\n", n, g, d, c, g - d, g - c
      printf "| | p99 | %.2f | %.2f | %.2f | %.2f | %.2f |\n", g9, d9, c9, g9 - d9, g9 - c9 }'
  }
  cold_rows bench/echo_server "$ge50" "$de50" "$ce50" "$ge99" "$de99" "$ce99"
  cold_rows "python3 -m http.server" "$gh50" "$dh50" "$ch50" "$gh99" "$dh99" "$ch99"
  echo
  echo "Direct: the same command started on the host by the probe, which connects every millisecond"
  echo "until it accepts (the server's own start-up time). Caged: the same, in CPU and memory cgroups"
  echo "with the job's limits (cpu 1, memory 512MiB). Target: overhead <= 5 ms at p50."
  echo
  echo "## Warm path: 64-byte echo, ${warm_seconds} s x $warm_reps per app and connection count (medians)"
  echo
  echo "| connections | upstream | p50 us | p99 us | requests/s |"
  echo "|---|---|---|---|---|"
  for connections in "${warm_connections[@]}"; do
    declare -A p50=() p99=()
    for app in warm-static warm-caged warm-launch; do
      p50[$app]=$(median_column "$work/$app-$connections" 1)
      p99[$app]=$(median_column "$work/$app-$connections" 2)
      rps=$(median_column "$work/$app-$connections" 3)
      echo "| $connections | ${warm_labels[$app]} | ${p50[$app]} | ${p99[$app]} | ${rps%.*} |"
    done
    for base in warm-static warm-caged; do
      awk -v n="$connections" -v t="launch / ${warm_labels[$base]}" -v a="${p50[warm-launch]}" \
        -v b="${p50[$base]}" -v c="${p99[warm-launch]}" -v d="${p99[$base]}" 'BEGIN {
        printf "| %s | **ratio %s** | **%.3f** | **%.3f** | |\n", n, t, a / b, c / d }'
    done
  done
  echo
  echo "Target: warm request latency within 1.05x of the static upstream. Caged: the same static"
  echo "echo_server in CPU and memory cgroups with the job's limits (cpu 1, memory 512MiB)."
} | tee bench/results/launch.md
