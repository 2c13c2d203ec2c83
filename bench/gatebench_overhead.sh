#!/usr/bin/env bash
# gatebench's own cost, side by side in one run with the established tool for each mode, every
# load tool on one thread pinned to CPU 1 and every server on one thread pinned to CPU 0:
#   rr on an echo server:  gatebench rr (64-byte echo, checked byte for byte) against
#                          bench/echo_server. No peer speaks a raw echo, so this row has none.
#   rr on HTTP:            gatebench rr sending wrk's exact GET request and expecting nginx's
#                          exact response length, against wrk, on the same nginx (keep-alive,
#                          fixed `return 200` reply).
#   tput:                  gatebench tput into bench/echo_server --discard, against iperf3 into
#                          iperf3 -s (both sinks read into 128 KiB buffers; 128 KiB writes).
#
#   bench/gatebench_overhead.sh [seconds-per-run] [repetitions]
# Repetitions are interleaved. Besides requests/s or Gbit/s, the script takes each load tool's
# CPU time (user + system, from the shell's `times`): when the server core saturates first,
# both tools show the same rate, and CPU per request is the figure that tells them apart.
# Prints Markdown tables (medians, ratios) and writes them to bench/results/gatebench-overhead.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-5}
reps=${2:-3}
server_cpu=0
load_cpu=1
echo_port=25401
sink_port=25402
nginx_port=25403
iperf_port=25404

bash scripts/install-deps.sh --with bench
make --no-print-directory build >/dev/null
bin=build/release/bin

# shellcheck source=bench/lib.sh
source bench/lib.sh

cat >"$work/nginx.conf" <<CFG
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  keepalive_requests 1000000000;
  keepalive_timeout 1h;
  server {
    listen 127.0.0.1:${nginx_port};
    location / { return 200 "ok\n"; }
  }
}
CFG

declare -A server_pid
taskset -c "$server_cpu" "$bin/echo_server" --listen "127.0.0.1:$echo_port" >/dev/null 2>&1 &
pids+=($!)
server_pid[echo-gatebench]=$!
taskset -c "$server_cpu" "$bin/echo_server" --discard --listen "127.0.0.1:$sink_port" >/dev/null 2>&1 &
pids+=($!)
server_pid[tput-gatebench]=$!
taskset -c "$server_cpu" nginx -c "$work/nginx.conf" >/dev/null 2>&1 &
pids+=($!)
server_pid[http-gatebench]=$!
server_pid[http-wrk]=$!
taskset -c "$server_cpu" iperf3 -s -p "$iperf_port" >/dev/null 2>&1 &
pids+=($!)
server_pid[tput-iperf3]=$!
for port in "$echo_port" "$sink_port" "$nginx_port" "$iperf_port"; do wait_for_port "$port"; done

# The request wrk sends, byte for byte, and the length of nginx's reply to it (fixed: the Date
# header has a fixed width), so that gatebench rr does exactly wrk's work.
printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n' "$nginx_port" >"$work/request.http"
response_bytes=$(python3 - "$nginx_port" "$work/request.http" <<'PY'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
    s.sendall(open(sys.argv[2], "rb").read())
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += s.recv(4096)
    print(len(head) + 4 + length)
PY
)

# Runs a load tool on the load CPU with its output in $work/out; prints its CPU seconds.
run_timed() {
  local times_line
  times_line=$( (taskset -c "$load_cpu" "$@" >"$work/out" 2>&1; times) | tail -1)
  python3 -c '
import re, sys
total = 0.0
for minutes, secs in re.findall(r"(\d+)m([\d.]+)s", sys.argv[1]):
    total += int(minutes) * 60 + float(secs)
print("%.3f" % total)' "$times_line"
}

# Each measure_* prints: rate, client CPU-µs per request (or per MB for tput), p50 µs, p99 µs.
gatebench_json() {
  python3 -c '
import json, sys
report = json.load(open(sys.argv[1]))
total, latency, cpu = report["total"], report["latency"], float(sys.argv[2])
if sys.argv[3] == "tput":
    megabytes = total["sent_bits_per_second"] * float(sys.argv[4]) / 8e6
    print("%.2f %.1f - -" % (total["sent_bits_per_second"] / 1e9, cpu * 1e6 / max(megabytes, 1)))
else:
    print("%.0f %.2f %.0f %.0f" % (total["requests_per_second"],
          cpu * 1e6 / max(total["requests"], 1), latency["p50_ns"] / 1e3, latency["p99_ns"] / 1e3))
' "$work/report.json" "$1" "$2" "$seconds"
}

measure_gatebench_rr() {
  local port=$1 connections=$2 cpu
  shift 2
  cpu=$(run_timed "$bin/gatebench" rr --target "127.0.0.1:$port" --connections "$connections" \
    --threads 1 --duration "${seconds}s" --quiet --json "$work/report.json" "$@")
  gatebench_json "$cpu" rr
}

measure_wrk() {
  local connections=$1 cpu
  cpu=$(run_timed wrk -t1 -c "$connections" -d "${seconds}s" --latency "http://127.0.0.1:$nginx_port/")
  python3 -c '
import re, sys
text = open(sys.argv[1]).read()
def micros(value, unit):
    return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
requests = int(re.search(r"(\d+) requests in", text).group(1))
p50 = micros(*re.search(r"50%\s+([\d.]+)(us|ms|s)", text).groups())
p99 = micros(*re.search(r"99%\s+([\d.]+)(us|ms|s)", text).groups())
print("%.0f %.2f %.0f %.0f" % (rate, float(sys.argv[2]) * 1e6 / max(requests, 1), p50, p99))
' "$work/out" "$cpu"
}

measure_gatebench_tput() {
  local connections=$1 cpu
  cpu=$(run_timed "$bin/gatebench" tput --target "127.0.0.1:$sink_port" --connections "$connections" \
    --threads 1 --duration "${seconds}s" --quiet --json "$work/report.json")
  gatebench_json "$cpu" tput
}

measure_iperf3() {
  local connections=$1 cpu
  cpu=$(run_timed iperf3 -c 127.0.0.1 -p "$iperf_port" -t "$seconds" -P "$connections" -J)
  python3 -c '
import json, sys
sent = json.load(open(sys.argv[1]))["end"]["sum_sent"]
megabytes = sent["bytes"] / 1e6
print("%.2f %.1f - -" % (sent["bits_per_second"] / 1e9, float(sys.argv[2]) * 1e6 / max(megabytes, 1)))
' "$work/out" "$cpu"
}

measure() {
  case $1 in
    echo-gatebench) measure_gatebench_rr "$echo_port" "$2" ;;
    http-gatebench) measure_gatebench_rr "$nginx_port" "$2" --payload "$work/request.http" \
                      --response-size "$response_bytes" ;;
    http-wrk) measure_wrk "$2" ;;
    tput-gatebench) measure_gatebench_tput "$2" ;;
    tput-iperf3) measure_iperf3 "$2" ;;
  esac
}

targets=(echo-gatebench http-gatebench http-wrk tput-gatebench tput-iperf3)
declare -A rate cost p50 p99 server
for connections in 1 16; do
  for _ in $(seq 1 "$reps"); do
    for target in "${targets[@]}"; do
      before=$(cpu_ticks "${server_pid[$target]}")
      read -r r c l50 l99 < <(measure "$target" "$connections")
      after=$(cpu_ticks "${server_pid[$target]}")
      busy=$(((after - before) * 100 / $(getconf CLK_TCK) / seconds))
      rate[$target,$connections]+="$r "
      cost[$target,$connections]+="$c "
      p50[$target,$connections]+="$l50 "
      p99[$target,$connections]+="$l99 "
      server[$target,$connections]+="$busy "
      echo "$target, $connections connection(s): $r, client CPU $c, p50 $l50 us, p99 $l99 us, server CPU $busy %" >&2
    done
  done
done

# Median of one figure over the repetitions ("-" where the mode has none).
cell() {
  local -n values=$1
  # shellcheck disable=SC2086  # word splitting of the space-separated run list is intended
  median ${values[$2,$3]}
}
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

{
  echo "Medians of $reps interleaved runs of ${seconds} s; one load thread on CPU $load_cpu, one server thread on CPU $server_cpu."
  echo
  echo "Request/response (requests/s; client CPU-µs per request; latency p50 / p99 in µs; the"
  echo "server's CPU use in % of its core, near 100 when the server is what limits the rate):"
  echo
  echo "| connections | target | tool | requests/s | CPU-µs/request | p50 / p99 µs | server CPU |"
  echo "|---|---|---|---|---|---|---|"
  for connections in 1 16; do
    for target in echo-gatebench http-gatebench http-wrk; do
      case $target in
        echo-gatebench) label="echo_server, 64 B" tool=gatebench ;;
        http-gatebench) label="nginx, HTTP keep-alive" tool=gatebench ;;
        http-wrk) label="nginx, HTTP keep-alive" tool="wrk 4.1" ;;
      esac
      echo "| $connections | $label | $tool | $(cell rate "$target" "$connections") | $(cell cost "$target" "$connections") | $(cell p50 "$target" "$connections") / $(cell p99 "$target" "$connections") | $(cell server "$target" "$connections") % |"
    done
  done
  echo
  echo "gatebench / wrk on the same nginx:"
  echo
  echo "| connections | requests/s ratio | CPU per request ratio (lower is cheaper) |"
  echo "|---|---|---|"
  for connections in 1 16; do
    echo "| $connections | $(ratio "$(cell rate http-gatebench "$connections")" "$(cell rate http-wrk "$connections")") | $(ratio "$(cell cost http-gatebench "$connections")" "$(cell cost http-wrk "$connections")") |"
  done
  echo
  echo "Throughput (Gbit/s sent / client CPU-µs per MB sent / sink CPU %):"
  echo
  echo "| connections | gatebench tput | iperf3 3.12 | Gbit/s ratio | CPU per MB ratio |"
  echo "|---|---|---|---|---|"
  for connections in 1 16; do
    g_rate=$(cell rate tput-gatebench "$connections") i_rate=$(cell rate tput-iperf3 "$connections")
    g_cost=$(cell cost tput-gatebench "$connections") i_cost=$(cell cost tput-iperf3 "$connections")
    g_sink=$(cell server tput-gatebench "$connections") i_sink=$(cell server tput-iperf3 "$connections")
    echo "| $connections | $g_rate / $g_cost / $g_sink % | $i_rate / $i_cost / $i_sink % | $(ratio "$g_rate" "$i_rate") | $(ratio "$g_cost" "$i_cost") |"
  done
  echo
  echo "$(nproc) CPUs; $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)."
} | tee bench/results/gatebench-overhead.md
