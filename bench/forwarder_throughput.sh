#!/usr/bin/env bash
# Forwarder throughput, side by side in one run: a direct loopback connection, the gatehouse lb
# forwarder (lb::SpliceMode always, never and auto: splice, copy, auto), HAProxy 2.6 in TCP mode
# and nginx 1.22 `stream`, each proxy on one worker thread pinned to CPU 0, with the iperf3 client
# and server pinned to CPU 1.
# Peers run with their best setting for this workload: HAProxy `option splice-auto`, nginx
# `proxy_buffer_size 64k` (the size of our copy buffer).
#
#   bench/forwarder_throughput.sh [seconds-per-run] [repetitions]
#   LOAD=gatebench bench/forwarder_throughput.sh ...
# LOAD=gatebench drives the same runs with `gatebench tput` into `echo_server --discard` instead
# of iperf3 (gatebench costs about 0.5-0.7x iperf3's CPU per byte, bench/RESULTS.md), leaving
# the shared load core more headroom; Gbit/s are then the bytes gatebench sent (bytes still in
# socket buffers at the end included: a proxied path has one more hop of buffers than `direct`,
# so these runs compare with each other, not with the iperf3 ones).
# Repetitions are interleaved (every target once, then again), so a noisy stretch on the shared
# VM hits every target alike. Besides Gbit/s, the script reads each proxy's CPU time from
# /proc/PID/stat during its runs: with one iperf3 core as the load, the iperf3 core saturates
# first and Gbit/s alone understates a proxy that still has CPU to spare.
# Prints Markdown tables (medians of the repetitions, ratios) and writes them to
# bench/results/forwarder-throughput.md (iperf3) or forwarder-throughput-gatebench.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-5}
reps=${2:-3}
load=${LOAD:-iperf3}
case $load in
  iperf3) results_file=bench/results/forwarder-throughput.md ;;
  gatebench) results_file=bench/results/forwarder-throughput-gatebench.md ;;
  *) echo "LOAD must be iperf3 or gatebench, not '$load'" >&2; exit 2 ;;
esac
proxy_cpu=0
load_cpu=1
server_port=25201
declare -A ports=([gatehouse-splice]=25301 [gatehouse-copy]=25302 [haproxy]=25303 [nginx]=25304
  [gatehouse-auto]=25305)

bash scripts/install-deps.sh --with bench
make --no-print-directory build >/dev/null

# shellcheck source=bench/lib.sh
source bench/lib.sh

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
frontend fe
  bind 127.0.0.1:${ports[haproxy]}
  default_backend be
backend be
  server s1 127.0.0.1:${server_port}
CFG

cat >"$work/nginx.conf" <<CFG
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
stream {
  server {
    listen 127.0.0.1:${ports[nginx]};
    proxy_pass 127.0.0.1:${server_port};
    proxy_buffer_size 64k;
  }
}
CFG

if [[ $load == gatebench ]]; then
  taskset -c "$load_cpu" build/release/bin/echo_server --discard --listen "127.0.0.1:$server_port" \
    >/dev/null 2>&1 &
else
  taskset -c "$load_cpu" iperf3 -s -p "$server_port" >/dev/null 2>&1 &
fi
pids+=($!)
declare -A proxy_pid
for mode in splice:always copy:never auto:auto; do
  target=gatehouse-${mode%%:*}
  taskset -c "$proxy_cpu" build/release/bin/lb_forward_server --workers 1 --splice "${mode#*:}" \
    --listen "127.0.0.1:${ports[$target]}" --upstream "127.0.0.1:$server_port" >/dev/null &
  pids+=($!)
  proxy_pid[$target]=$!
done
taskset -c "$proxy_cpu" haproxy -db -f "$work/haproxy.cfg" >/dev/null 2>&1 &
pids+=($!)
proxy_pid[haproxy]=$!
taskset -c "$proxy_cpu" nginx -c "$work/nginx.conf" >/dev/null 2>&1 &
pids+=($!)
proxy_pid[nginx]=$!
for port in "$server_port" "${ports[@]}"; do wait_for_port "$port"; done

# One load run; prints Gbit/s and the proxy's CPU use in % of one core.
measure() {
  local target=$1 streams=$2 port=$server_port before=0 after=0 gbits
  [[ $target != direct ]] && port=${ports[$target]} && before=$(cpu_ticks "${proxy_pid[$target]}")
  if [[ $load == gatebench ]]; then
    taskset -c "$load_cpu" build/release/bin/gatebench tput --target "127.0.0.1:$port" \
      --connections "$streams" --threads 1 --duration "${seconds}s" --quiet \
      --json "$work/tput.json" >/dev/null
    gbits=$(python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["total"]["sent_bits_per_second"] / 1e9))' "$work/tput.json")
  else
    # shellcheck disable=SC2086  # IPERF_CLIENT_FLAGS holds several flags on purpose
    gbits=$(taskset -c "$load_cpu" iperf3 -c 127.0.0.1 -p "$port" -t "$seconds" -P "$streams" ${IPERF_CLIENT_FLAGS:-} -J |
      python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))')
  fi
  [[ $target != direct ]] && after=$(cpu_ticks "${proxy_pid[$target]}")
  echo "$gbits $(( (after - before) * 100 / $(getconf CLK_TCK) / seconds ))"
}

declare -A runs cpu result cpu_median
targets=(direct gatehouse-splice gatehouse-copy gatehouse-auto haproxy nginx)
for streams in 1 16; do
  for _ in $(seq 1 "$reps"); do
    for target in "${targets[@]}"; do
      read -r gbits percent < <(measure "$target" "$streams")
      runs[$target,$streams]+="$gbits "
      cpu[$target,$streams]+="$percent "
    done
  done
  for target in "${targets[@]}"; do
    # shellcheck disable=SC2086  # word splitting of the space-separated run lists is intended
    result[$target,$streams]=$(median ${runs[$target,$streams]})
    # shellcheck disable=SC2086
    cpu_median[$target,$streams]=$(median ${cpu[$target,$streams]})
    echo "$target, $streams connection(s): ${runs[$target,$streams]}Gbit/s -> median ${result[$target,$streams]}; proxy CPU ${cpu[$target,$streams]}%" >&2
  done
done

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
best_peer() { python3 -c "print(max($1, $2))"; }
# Gbit forwarded per CPU-second of the proxy.
per_cpu() { python3 -c "print('%.1f' % ($1 / max($2, 1) * 100))"; }

{
  echo "Gbit/s through each target, load $load (median of $reps interleaved runs of ${seconds} s):"
  echo
  echo "| connections | direct | gatehouse splice | gatehouse copy | gatehouse auto | HAProxy 2.6 | nginx 1.22 | splice / best peer | copy / best peer | auto / best peer | splice / direct |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for streams in 1 16; do
    best=$(best_peer "${result[haproxy,$streams]}" "${result[nginx,$streams]}")
    echo "| $streams | ${result[direct,$streams]} | ${result[gatehouse-splice,$streams]} | ${result[gatehouse-copy,$streams]} | ${result[gatehouse-auto,$streams]} | ${result[haproxy,$streams]} | ${result[nginx,$streams]} | $(ratio "${result[gatehouse-splice,$streams]}" "$best") | $(ratio "${result[gatehouse-copy,$streams]}" "$best") | $(ratio "${result[gatehouse-auto,$streams]}" "$best") | $(ratio "${result[gatehouse-splice,$streams]}" "${result[direct,$streams]}") |"
  done
  echo
  echo "Proxy CPU in % of its one core (median), and Gbit forwarded per proxy CPU-second:"
  echo
  echo "| connections | gatehouse splice | gatehouse copy | gatehouse auto | HAProxy 2.6 | nginx 1.22 |"
  echo "|---|---|---|---|---|---|"
  for streams in 1 16; do
    row="| $streams "
    for target in gatehouse-splice gatehouse-copy gatehouse-auto haproxy nginx; do
      row+="| ${cpu_median[$target,$streams]} % / $(per_cpu "${result[$target,$streams]}" "${cpu_median[$target,$streams]}") "
    done
    echo "$row|"
  done
  echo
  echo "$(nproc) CPUs; $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)."
} | tee "$results_file"
