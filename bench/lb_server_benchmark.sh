#!/usr/bin/env bash
# The whole load-balancer daemon against its peers, side by side in one run: gatehoused with one
# worker (`lb.workers: 1`), HAProxy 2.6 and nginx 1.22 `stream`, each configured the same way:
#   - mTLS termination: TLS 1.3 only, suites AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 in that
#     order, groups X25519, P-256, P-384, client certificate required and verified against the
#     run's CA, no session resumption and no session tickets on any of the three (checked with
#     openssl s_client before the load runs: a fair full-handshake comparison);
#   - least-connections balancing over two upstreams (two bench/echo_server processes; the
#     throughput runs go to two `echo_server --discard` sinks instead);
#   - TCP-connect health checks every 2 s (timeout 1 s, rise 2, fall 3) in gatehoused and HAProxy;
#     open-source nginx `stream` has no active health check (only passive max_fails);
#   - a plain-TCP app of each (gatehoused `tls: none`, HAProxy `mode tcp` without ssl, nginx
#     stream without ssl) beside the mTLS one;
#   - no per-connection logging (gatehoused log level warn: its access log writes one line per
#     connection at info; HAProxy no `log`; nginx stream has no access_log).
# The PKI is made at run time with `gatehouse certs init/issue`.
#
#   bench/lb_server_benchmark.sh [seconds-per-run] [repetitions] [rss-repetitions]
#   defaults: 5 3 1. RSS_CONNECTIONS (default 9000, capped by the open-file limit),
#   RSS_OPEN_SECONDS (default 30: the connections of the RSS row open over this long) and
#   QUIET_WAIT_BUDGET (default 120: seconds in all to wait for a quiet machine before runs).
#
# Rows (every proxy pinned to CPU 0, gatebench and the upstream servers pinned to CPU 1):
#   1. plain TCP throughput, 1 and 16 connections: gatebench tput into the sinks; Gbit/s and
#      Gbit per proxy CPU-second;
#   2. the same through the mTLS port (gatebench tput --tls, client certificate);
#   3. full mTLS handshakes per second: gatebench connrate --tls (no --tls-resume), 16 at once;
#      each is connect + handshake + upstream dial + one 64-byte echo + close;
#   4. 64-byte echo over 64 connections, plain and mTLS: gatebench rr; requests/s, latency
#      p50/p99/p99.9, proxy CPU-µs per request;
#   5. RSS per idle mTLS connection: N connections held open through a freshly started proxy
#      (gatebench rr open loop: N connections, one 64-byte request per connection every
#      RSS_OPEN_SECONDS), VmRSS of all the proxy's processes before and while they are held.
# Repetitions are interleaved (every proxy once, then again, the order rotated each time) and
# medians reported. The machine may be shared: before each run the script waits (briefly, within
# QUIET_WAIT_BUDGET) for both cores to be idle, measures the task time of other programs during
# the run, and takes medians over the runs where that stayed under 25 % of a core (all runs,
# marked, when none did); every run is listed at the end of the results. The proxy's CPU time comes from /proc/PID/stat (its children included:
# nginx's worker), the busy share of each core from /proc/stat. With one core for the load
# generator and both upstream servers, that core saturates first in most rows, so rates alone
# understate a proxy with CPU to spare: CPU per byte, per handshake and per request are the
# comparable figures.
# Prints Markdown tables and writes them to bench/results/lb-server.md.
set -euo pipefail
command_line="bench/lb_server_benchmark.sh${*:+ $*}"
[[ -n ${QUIET_WAIT_BUDGET:-} ]] && command_line="QUIET_WAIT_BUDGET=$QUIET_WAIT_BUDGET $command_line"
[[ -n ${RSS_OPEN_SECONDS:-} ]] && command_line="RSS_OPEN_SECONDS=$RSS_OPEN_SECONDS $command_line"
[[ -n ${RSS_CONNECTIONS:-} ]] && command_line="RSS_CONNECTIONS=$RSS_CONNECTIONS $command_line"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-5}
reps=${2:-3}
rss_reps=${3:-1}
rss_open=${RSS_OPEN_SECONDS:-30}
quiet_budget=${QUIET_WAIT_BUDGET:-120}
if ! [[ $quiet_budget =~ ^[0-9]+$ ]]; then
  echo "QUIET_WAIT_BUDGET must be a whole number of seconds" >&2
  exit 2
fi
for value in "$seconds" "$reps" "$rss_reps" "$rss_open"; do
  if ! [[ $value =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bench/lb_server_benchmark.sh [seconds] [repetitions] [rss-repetitions] (positive whole numbers)" >&2
    exit 2
  fi
done
results_file=bench/results/lb-server.md
proxy_cpu=0
load_cpu=1
clk=$(getconf CLK_TCK)
targets=(gatehouse haproxy nginx)

# Ports: upstreams, then per proxy base+1 plain echo, +2 mTLS echo, +3 plain sink, +4 mTLS sink
# (gatehoused's admin endpoint on its base port).
echo_ports=(26101 26102)
sink_ports=(26103 26104)
declare -A base=([gatehouse]=26110 [haproxy]=26120 [nginx]=26130)
declare -A offset=([plain]=1 [tls]=2 [plain-sink]=3 [tls-sink]=4)
admin_port=${base[gatehouse]}
port() { echo $((base[$1] + offset[$2])); }

# File descriptors: a proxied connection holds two. Every proxy gets the same connection cap,
# the most that fits the hard limit the way gatehoused sizes it (2 x max + 1024).
nofile=$(ulimit -Hn)
[[ $nofile == unlimited ]] && nofile=1048576
ulimit -n "$nofile"
max_conns=$(((nofile - 1024) / 2))
rss_n=${RSS_CONNECTIONS:-$((max_conns - 200 < 9000 ? max_conns - 200 : 9000))}
if ! [[ $rss_n =~ ^[1-9][0-9]*$ ]] || ((rss_n > max_conns - 100)); then
  echo "RSS_CONNECTIONS=$rss_n does not fit: the open-file limit ($nofile) allows $((max_conns - 100))" >&2
  exit 2
fi
rss_rate=$(((rss_n + rss_open - 1) / rss_open))

bash scripts/install-deps.sh --with bench
make --no-print-directory build >/dev/null
bin=build/release/bin

# shellcheck source=bench/lib.sh
source bench/lib.sh

# shellcheck disable=SC2046  # the proxies' ports, one word each
require_free_ports 26101-26134 "${echo_ports[@]}" "${sink_ports[@]}" $(for t in "${targets[@]}"; do
  for a in plain tls plain-sink tls-sink; do port "$t" "$a"; done
done) "$admin_port"
make_bench_pki
cat "$pki/server.pem" "$pki/server.key" >"$pki/server-haproxy.pem"
suites=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256

# --- configurations ---------------------------------------------------------------------------

gatehouse_app() {  # name, port kind, upstream ports...
  local name=$1 kind=$2
  shift 2
  echo "    - name: $name"
  echo "      listen: 127.0.0.1:$(port gatehouse "$kind")"
  echo "      upstreams: [127.0.0.1:$1, 127.0.0.1:$2]"
  echo "      balancing: least_connections"
  echo "      connect_timeout: 5s"
  echo "      idle_timeout: 1h"
  echo "      health_check: {interval: 2s, timeout: 1s, rise: 2, fall: 3}"
  [[ $kind == plain* ]] && echo "      tls: none"
  return 0
}
{
  cat <<CFG
log: {level: warn}
tls: {ca: $pki/ca.pem, cert: $pki/server.pem, key: $pki/server.key}
admin: {listen: 127.0.0.1:$admin_port}
authorization:
  apps:
    bench-tls: {users: [bench]}
    bench-plain: {users: ["*"]}
    bench-tls-sink: {users: [bench]}
    bench-plain-sink: {users: ["*"]}
lb:
  workers: 1
  handshake_timeout: 5s
  max_connections: $max_conns
  apps:
CFG
  gatehouse_app bench-plain plain "${echo_ports[@]}"
  gatehouse_app bench-tls tls "${echo_ports[@]}"
  gatehouse_app bench-plain-sink plain-sink "${sink_ports[@]}"
  gatehouse_app bench-tls-sink tls-sink "${sink_ports[@]}"
} >"$work/gatehouse.yaml"

# HAProxy 2.6 has no setting for the number of TLS 1.3 tickets; OpenSSL's system_default section
# (read from OPENSSL_CONF by HAProxy alone) sets it to 0, as gatehoused and nginx do themselves.
cat >"$work/openssl-haproxy.cnf" <<'CFG'
openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
NumTickets = 0
CFG
# maxpipes: the default (maxconn / 4) would push HAProxy's descriptor need past the limit; 16
# spliced connections use at most 32 pipes.
cat >"$work/haproxy.cfg" <<CFG
global
  nbthread 1
  maxconn $max_conns
  maxpipes 200
  tune.ssl.cachesize 0
  ssl-default-bind-ciphersuites $suites
  ssl-default-bind-curves X25519:P-256:P-384
  ssl-default-bind-options ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3 no-tls-tickets
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout check 1s
  retries 2
  option redispatch
  option splice-auto
frontend plain
  bind 127.0.0.1:$(port haproxy plain)
  default_backend echo
frontend tls
  bind 127.0.0.1:$(port haproxy tls) ssl crt $pki/server-haproxy.pem ca-file $pki/ca.pem verify required
  default_backend echo
frontend plain-sink
  bind 127.0.0.1:$(port haproxy plain-sink)
  default_backend sink
frontend tls-sink
  bind 127.0.0.1:$(port haproxy tls-sink) ssl crt $pki/server-haproxy.pem ca-file $pki/ca.pem verify required
  default_backend sink
backend echo
  balance leastconn
  server e1 127.0.0.1:${echo_ports[0]} check inter 2s rise 2 fall 3
  server e2 127.0.0.1:${echo_ports[1]} check inter 2s rise 2 fall 3
backend sink
  balance leastconn
  server s1 127.0.0.1:${sink_ports[0]} check inter 2s rise 2 fall 3
  server s2 127.0.0.1:${sink_ports[1]} check inter 2s rise 2 fall 3
CFG

# worker_connections counts both sides of a proxied connection.
cat >"$work/nginx.conf" <<CFG
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
worker_rlimit_nofile $nofile;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections $((2 * max_conns + 32)); }
stream {
  proxy_connect_timeout 5s;
  proxy_timeout 1h;
  proxy_next_upstream_tries 3;
  proxy_buffer_size 64k;
  upstream echo {
    least_conn;
    server 127.0.0.1:${echo_ports[0]};
    server 127.0.0.1:${echo_ports[1]};
  }
  upstream sink {
    least_conn;
    server 127.0.0.1:${sink_ports[0]};
    server 127.0.0.1:${sink_ports[1]};
  }
  ssl_certificate $pki/server.pem;
  ssl_certificate_key $pki/server.key;
  ssl_client_certificate $pki/ca.pem;
  ssl_verify_client on;
  ssl_verify_depth 4;
  ssl_protocols TLSv1.3;
  ssl_conf_command Ciphersuites $suites;
  ssl_ecdh_curve X25519:prime256v1:secp384r1;
  ssl_session_cache off;
  ssl_session_tickets off;
  ssl_conf_command NumTickets 0;
  ssl_handshake_timeout 5s;
  server { listen 127.0.0.1:$(port nginx plain); proxy_pass echo; }
  server { listen 127.0.0.1:$(port nginx tls) ssl; proxy_pass echo; }
  server { listen 127.0.0.1:$(port nginx plain-sink); proxy_pass sink; }
  server { listen 127.0.0.1:$(port nginx tls-sink) ssl; proxy_pass sink; }
}
CFG

# --- processes ---------------------------------------------------------------------------------

# Stops one process we started (SIGTERM, 5 s, SIGKILL) and drops it from `pids`.
stop_pid() {
  local pid=$1 p keep=()
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${pids[@]}"; do
    if [[ $p != "$pid" ]]; then keep+=("$p"); fi
  done
  pids=("${keep[@]}")
}

declare -A proxy_pid
fail_proxy() {
  echo "$1 is not running ($2); its log ($work/$1.log):" >&2
  cat "$work/$1.log" >&2 || true
  [[ $1 == nginx ]] && cat "$work/nginx-error.log" >&2 2>/dev/null
  exit 1
}
start_proxy() {
  local target=$1 kind
  case $target in
    gatehouse)
      taskset -c "$proxy_cpu" "$bin/gatehoused" --config "$work/gatehouse.yaml" \
        >"$work/gatehouse.log" 2>&1 & ;;
    haproxy)
      OPENSSL_CONF=$work/openssl-haproxy.cnf taskset -c "$proxy_cpu" haproxy -db \
        -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 & ;;
    nginx)
      taskset -c "$proxy_cpu" nginx -e "$work/nginx-error.log" -c "$work/nginx.conf" \
        >"$work/nginx.log" 2>&1 & ;;
  esac
  pids+=($!)
  proxy_pid[$target]=$!
  for kind in plain tls plain-sink tls-sink; do
    wait_for_port "$(port "$target" "$kind")" 2>/dev/null ||
      fail_proxy "$target" "nothing listens on port $(port "$target" "$kind") after 5 s"
  done
  check_alive "$target"
}
check_alive() {
  kill -0 "${proxy_pid[$1]}" 2>/dev/null || fail_proxy "$1" "it exited"
}
stop_proxy() { stop_pid "${proxy_pid[$1]}"; }

upstream_pids=()
for p in "${echo_ports[@]}"; do
  taskset -c "$load_cpu" "$bin/echo_server" --listen "127.0.0.1:$p" >/dev/null 2>&1 &
  pids+=($!)
  upstream_pids+=($!)
done
for p in "${sink_ports[@]}"; do
  taskset -c "$load_cpu" "$bin/echo_server" --discard --listen "127.0.0.1:$p" >/dev/null 2>&1 &
  pids+=($!)
  upstream_pids+=($!)
done
for p in "${echo_ports[@]}" "${sink_ports[@]}"; do wait_for_port "$p"; done
for target in "${targets[@]}"; do start_proxy "$target"; done
wait_for_port "$admin_port" 2>/dev/null ||
  fail_proxy gatehouse "nothing listens on its admin port $admin_port after 5 s"

# --- measurement helpers -----------------------------------------------------------------------

# For the proxy core, then the load core (/proc/stat): ticks of tasks (user + nice + system), of
# interrupts (irq + softirq: this kernel accounts them apart from any process) and in all.
core_ticks() {
  awk -v a="cpu$proxy_cpu" -v b="cpu$load_cpu" '$1 == a || $1 == b {
    tasks = $2 + $3 + $4; irq = $7 + $8; out = out " " tasks " " irq " " tasks + irq + $5 + $6 + $9
  } END { print out }' /proc/stat
}
rss_kib() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1"); do
    total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")))
  done
  echo "$total"
}
established() { ss -Htn state established "( $1 )" | wc -l; }
upstream_ticks() {
  local total=0 pid
  for pid in "${upstream_pids[@]}"; do total=$((total + $(cpu_ticks "$pid"))); done
  echo "$total"
}
# Waits until both cores were under 15 % busy for half a second, so that other work on a
# shared machine (someone's build) does not land in a run; our own processes are idle between
# runs. At most 10 s per run and QUIET_WAIT_BUDGET (default 120) seconds in all, which bounds the
# script's length; a run that starts on a busy machine is counted (noisy_starts) and reported.
noisy_starts=0
quiet_budget_halves=$((2 * quiet_budget))
wait_quiet() {
  local a0 i0 t0 a1 i1 t1 b0 j0 u0 b1 j1 u1 tries=0
  while :; do
    read -r a0 i0 t0 a1 i1 t1 < <(core_ticks)
    sleep 0.5
    read -r b0 j0 u0 b1 j1 u1 < <(core_ticks)
    if (((b0 + j0 - a0 - i0) * 100 < 15 * (u0 - t0) &&
      (b1 + j1 - a1 - i1) * 100 < 15 * (u1 - t1))); then return 0; fi
    tries=$((tries + 1))
    if ((tries >= 20 || quiet_budget_halves <= 0)); then break; fi
    quiet_budget_halves=$((quiet_budget_halves - 1))
  done
  noisy_starts=$((noisy_starts + 1))
  echo "$noisy_starts. the machine is busy with other work; running anyway" >&2
}
# Order of the proxies in repetition $1: rotated, so none always runs first after a pause.
order() {
  local i
  for i in 0 1 2; do echo "${targets[$(((i + $1) % 3))]}"; done
}

cat >"$work/record.py" <<'PY'
# One load run: the gatebench report plus CPU figures -> one JSON line (stdout), a progress line
# (stderr).
import json, re, sys
test, target, rep, path = sys.argv[1:5]
ticks, clk = int(sys.argv[5]), int(sys.argv[6])
s0 = [int(v) for v in sys.argv[7].split()]
s1 = [int(v) for v in sys.argv[8].split()]
upstream_ticks = int(sys.argv[9])
load_cpu = sum(int(m) * 60 + float(sec) for m, sec in re.findall(r"(\d+)m([\d.]+)s", sys.argv[10]))
report = json.load(open(path))
total, latency, elapsed = report["total"], report["latency"], report["elapsed_seconds"]
cpu = ticks / clk
d = [b - a for a, b in zip(s0, s1)]  # tasks, irq, all: proxy core, then load core
core_ticks = max(d[2], 1)
row = {
    "test": test, "target": target, "rep": int(rep), "elapsed": elapsed,
    "gbits": total["sent_bits_per_second"] / 1e9,
    "gbit_per_cpu_s": total["bytes_sent"] * 8 / 1e9 / cpu if cpu > 0 else None,
    "rate": total["requests_per_second"],
    "cpu_us_per_op": cpu * 1e6 / total["requests"] if total["requests"] else None,
    "p50_us": latency["p50_ns"] / 1e3, "p99_us": latency["p99_ns"] / 1e3,
    "p999_us": latency["p999_ns"] / 1e3,
    "errors": total["errors"], "dropped": total["dropped"],
    "errors_by_kind": {k: v for k, v in total["errors_by_kind"].items() if v},
    "proxy_cpu_pct": 100.0 * cpu / elapsed, "proxy_core_pct": 100.0 * (d[0] + d[1]) / core_ticks,
    "load_core_pct": 100.0 * (d[3] + d[4]) / max(d[5], 1),
    "softirq_pct": 100.0 * d[1] / core_ticks,
    "load_cpu_pct": 100.0 * (load_cpu + upstream_ticks / clk) / elapsed,
    # Task time on both cores not charged to the proxy, gatebench or the upstream servers, in %
    # of one core: other programs (kernel threads included; interrupt time is apart).
    "other_pct": max(0.0, 100.0 * (d[0] + d[3] - ticks - upstream_ticks - load_cpu * clk)
                     / core_ticks),
}
print(json.dumps(row))
print("%-14s %-9s rep %s: %.2f Gbit/s, %.0f req/s, p99 %.0f us, errors %d, proxy CPU %.0f %%, "
      "load core busy %.0f %%, other %.0f %%" % (test, target, rep, row["gbits"], row["rate"],
      row["p99_us"], row["errors"], row["proxy_cpu_pct"], row["load_core_pct"],
      row["other_pct"]), file=sys.stderr)
PY

# One gatebench run against one proxy, recorded in $work/runs.jsonl.
#   run_load TEST TARGET REP GATEBENCH-ARGS...
run_load() {
  local test=$1 target=$2 rep=$3 pid before after up_before up_after s0 s1 load_times status=0
  shift 3
  pid=${proxy_pid[$target]}
  rm -f "$work/report.json" "$work/gatebench.status"
  wait_quiet
  before=$(cpu_ticks "$pid")
  up_before=$(upstream_ticks)
  s0=$(core_ticks)
  # `times` in the subshell: gatebench's own CPU time (user, system), as in gatebench_overhead.sh.
  load_times=$( (taskset -c "$load_cpu" "$bin/gatebench" "$@" --threads 1 --duration "${seconds}s" \
    --quiet --json "$work/report.json" >"$work/gatebench.out" 2>&1 ||
    echo $? >"$work/gatebench.status"; times) | tail -1)
  after=$(cpu_ticks "$pid")
  up_after=$(upstream_ticks)
  s1=$(core_ticks)
  check_alive "$target"
  [[ -s $work/gatebench.status ]] && status=$(cat "$work/gatebench.status")
  if ((status != 0)) || [[ ! -s $work/report.json ]]; then
    echo "gatebench $* failed (exit $status):" >&2
    cat "$work/gatebench.out" >&2
    exit 1
  fi
  python3 "$work/record.py" "$test" "$target" "$rep" "$work/report.json" "$((after - before))" \
    "$clk" "$s0" "$s1" "$((up_after - up_before))" "$load_times" >>"$work/runs.jsonl"
  sleep 0.5  # let the closed connections leave the proxy before the next run
}

# --- TLS setup check ---------------------------------------------------------------------------

# What a client with gatebench's TLS settings sees on one mTLS port: NewSessionTicket messages,
# the suite and group chosen, whether data is echoed with the client certificate and without.
tls_probe() {
  local port=$1 out tickets cipher group with without
  out=$( (printf 'ping\n'; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
    -tls1_3 -ciphersuites "$suites" -groups X25519:P-256:P-384 -servername localhost \
    -CAfile "$pki/ca.pem" -cert "$pki/bench.pem" -key "$pki/bench.key" -msg 2>&1 || true)
  tickets=$(grep -c '^<<< .*NewSessionTicket' <<<"$out" || true)
  cipher=$(sed -n 's/.*Cipher is \([A-Z0-9_]*\).*/\1/p' <<<"$out" | head -1)
  group=$(sed -n 's/^Server Temp Key: \([^,]*\).*/\1/p' <<<"$out" | head -1)
  with=no
  grep -qx ping <<<"$out" && with=yes
  out=$( (printf 'ping\n'; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
    -tls1_3 -servername localhost -CAfile "$pki/ca.pem" 2>&1 || true)
  without=no
  grep -qx ping <<<"$out" && without=yes
  echo "${tickets:-?} ${cipher:-?} ${group:-?} $with $without"
}
: >"$work/tls.txt"
for target in "${targets[@]}"; do
  read -r tickets cipher group with without < <(tls_probe "$(port "$target" tls)")
  echo "$target $tickets $cipher $group $with $without" >>"$work/tls.txt"
  echo "TLS check $target: $tickets tickets, $cipher, $group, echo with certificate: $with, without: $without" >&2
  if [[ $tickets != 0 || $with != yes || $without != no ]]; then
    echo "TLS setup of $target is not as intended (tickets 0, echo with a certificate only)" >&2
    exit 1
  fi
done

# --- rows 1-4: load runs -----------------------------------------------------------------------

: >"$work/runs.jsonl"
started=$(date -u +%Y-%m-%dT%H:%MZ)
run_test() {  # TEST PORT-KIND GATEBENCH-ARGS...
  local test=$1 kind=$2 rep target
  shift 2
  for rep in $(seq 1 "$reps"); do
    for target in $(order "$rep"); do
      run_load "$test" "$target" "$rep" --target "127.0.0.1:$(port "$target" "$kind")" "$@"
    done
  done
}
for connections in 1 16; do
  run_test "tput-plain-$connections" plain-sink tput --connections "$connections"
done
for connections in 1 16; do
  run_test "tput-tls-$connections" tls-sink tput --connections "$connections" "${tls_args[@]}"
done
run_test connrate tls connrate --connections 16 "${tls_args[@]}"
run_test rr-plain plain rr --connections 64 --size 64
run_test rr-tls tls rr --connections 64 --size 64 "${tls_args[@]}"

# gatehoused's own count of refusals and failures during the load runs (non-zero ones).
python3 - "$admin_port" >"$work/gatehouse-metrics.txt" <<'PY'
import re, sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
sums = {}
for line in text.splitlines():
    m = re.match(r"gatehouse_lb_([a-z_]+?)(?:_total)?(?:\{([^}]*)\})? ([0-9.e+]+)$", line)
    if not m or float(m.group(3)) == 0:
        continue
    name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
    reason = re.search(r'reason="([^"]*)"', labels)
    if name in ("handshake_failures", "authorization_denials", "rate_limit_refusals",
                "capacity_refusals", "no_upstream", "dial_failures", "idle_timeouts",
                "forward_errors", "proxy_header_failures", "accept_errors", "connections"):
        key = name + ("{%s}" % reason.group(1) if reason else "")
        sums[key] = sums.get(key, 0) + value
print(", ".join("%s %d" % (k, v) for k, v in sorted(sums.items())))
PY
echo "gatehoused metrics after the load runs: $(cat "$work/gatehouse-metrics.txt")" >&2

# --- row 5: RSS per idle mTLS connection -------------------------------------------------------

for target in "${targets[@]}"; do stop_proxy "$target"; done
: >"$work/rss.jsonl"
rss_duration=$((rss_open + 20))
measure_rss() {
  local target=$1 rep=$2 tls_port pid gb t0 held=0 client_side upstream_side before after status=0
  local samples=() helds=()
  wait_quiet
  start_proxy "$target"
  tls_port=$(port "$target" tls)
  pid=${proxy_pid[$target]}
  # Warm-up (first handshakes, lazily built state), then the baseline.
  if ! taskset -c "$load_cpu" "$bin/gatebench" rr --target "127.0.0.1:$tls_port" --connections 16 \
    --threads 1 --duration 1s --quiet "${tls_args[@]}" >"$work/gatebench.out" 2>&1; then
    echo "gatebench (RSS warm-up, $target) failed:" >&2
    cat "$work/gatebench.out" >&2
    exit 1
  fi
  sleep 1
  before=$(rss_kib "$pid")
  taskset -c "$load_cpu" "$bin/gatebench" rr --target "127.0.0.1:$tls_port" --connections "$rss_n" \
    --rate "$rss_rate/s" --threads 1 --duration "${rss_duration}s" --timeout 30s --quiet \
    --json "$work/rss-report.json" "${tls_args[@]}" >"$work/gatebench.out" 2>&1 &
  gb=$!
  pids+=("$gb")
  t0=$SECONDS
  # Held = established on the proxy's listen port and, proxy to upstream, on the echo ports (only
  # this proxy runs now): both sides of a proxied connection.
  while ((SECONDS - t0 < rss_open + 12)) && kill -0 "$gb" 2>/dev/null; do
    sleep 1
    client_side=$(established "sport = :$tls_port")
    upstream_side=$(established "dport = :${echo_ports[0]} or dport = :${echo_ports[1]}")
    held=$((client_side < upstream_side ? client_side : upstream_side))
    ((held >= rss_n)) && break
  done
  sleep 2
  for _ in 1 2 3; do
    samples+=("$(rss_kib "$pid")")
    client_side=$(established "sport = :$tls_port")
    upstream_side=$(established "dport = :${echo_ports[0]} or dport = :${echo_ports[1]}")
    helds+=($((client_side < upstream_side ? client_side : upstream_side)))
    sleep 1
  done
  check_alive "$target"
  wait "$gb" || status=$?
  stop_pid "$gb"
  if ((status != 0)) || [[ ! -s $work/rss-report.json ]]; then
    echo "gatebench (RSS run, $target) failed (exit $status):" >&2
    cat "$work/gatebench.out" >&2
    exit 1
  fi
  after=$(median "${samples[@]}")
  held=$(median "${helds[@]}")
  python3 - "$target" "$rep" "$before" "$after" "$held" "$rss_n" "$work/rss-report.json" \
    >>"$work/rss.jsonl" <<'PY'
import json, sys
target, rep = sys.argv[1], int(sys.argv[2])
base, after, held, wanted = (int(v) for v in sys.argv[3:7])
total = json.load(open(sys.argv[7]))["total"]
row = {"target": target, "rep": rep, "base_kib": base, "held_kib": after, "held": held,
       "wanted": wanted, "kib_per_conn": (after - base) / held if held else None,
       "errors": total["errors"], "dropped": total["dropped"],
       "errors_by_kind": {k: v for k, v in total["errors_by_kind"].items() if v}}
print(json.dumps(row))
print("rss %-9s rep %d: %d held (of %d), RSS %d -> %d KiB, %.1f KiB per connection, errors %d"
      % (target, rep, held, wanted, base, after, row["kib_per_conn"] or 0, row["errors"]),
      file=sys.stderr)
PY
  stop_proxy "$target"
  rm -f "$work/rss-report.json"
}
for rep in $(seq 1 "$rss_reps"); do
  for target in $(order "$rep"); do measure_rss "$target" "$rep"; done
done

# --- report ------------------------------------------------------------------------------------

python3 - "$work" "$command_line" "$seconds" "$reps" "$rss_reps" "$rss_n" "$rss_open" \
  "$rss_rate" "$max_conns" "$nofile" "$started" "$(date -u +%Y-%m-%dT%H:%MZ)" \
  "$(nproc); $(uname -r)" "$noisy_starts" "$quiet_budget" "$(git rev-parse --short HEAD 2>/dev/null || echo ?)$( [[ -n $(git --no-optional-locks status --porcelain 2>/dev/null) ]] && echo ' (uncommitted changes in the tree)')" \
  >"$work/report.md" <<'PY'
import json, statistics, sys
(work, command, seconds, reps, rss_reps, rss_n, rss_open, rss_rate, max_conns, nofile, started,
 ended, machine, noisy_starts, quiet_budget, revision) = sys.argv[1:]
targets = ["gatehouse", "haproxy", "nginx"]
names = {"gatehouse": "gatehouse", "haproxy": "HAProxy 2.6", "nginx": "nginx 1.22"}
runs = [json.loads(l) for l in open(work + "/runs.jsonl")]
rss = [json.loads(l) for l in open(work + "/rss.jsonl")]

# A run is "clean" when other programs kept less than CLEAN_OTHER % of a core busy during it.
# Medians are over the clean runs of a test and proxy when it has any, else over all its runs
# (the cell is then marked with a dagger).
CLEAN_OTHER = 25.0

def chosen(rows, test, target):
    mine = [r for r in rows if r.get("test") == test and r["target"] == target]
    clean = [r for r in mine if r.get("other_pct", 0) < CLEAN_OTHER]
    return (clean, False) if clean else (mine, True)

def med(rows, test, target, key):
    picked, _ = chosen(rows, test, target)
    v = [r[key] for r in picked if r[key] is not None]
    return statistics.median_low(v) if v else None

def fmt(v, digits):
    return "-" if v is None else ("%%.%df" % digits) % v

def row(title, metric, test, key, digits, higher_better, rows=runs):
    m = {t: med(rows, test, t, key) for t in targets}
    peers = [m[t] for t in ("haproxy", "nginx") if m[t] is not None]
    best = (max if higher_better else min)(peers) if peers else None
    ratio = "-" if best in (None, 0) or m["gatehouse"] is None else "%.2f" % (m["gatehouse"] / best)
    cells = [fmt(m[t], digits) + (" †" if chosen(rows, test, t)[1] else "") for t in targets]
    print("| %s | %s | %s | %s | %s | %s |" % (title, metric, *cells, ratio))

print("# Load balancer daemon vs HAProxy 2.6 and nginx 1.22 (bench/lb_server_benchmark.sh)")
print()
print("Command: `%s` (%s s per run, %s interleaved repetitions, medians; RSS row: %s "
      "repetition(s)). Run %s to %s; %s CPUs, kernel %s; gatehouse revision %s."
      % (command, seconds, reps, rss_reps, started, ended, *machine.split("; "), revision))
print()
print("Each proxy: one worker thread/process pinned to CPU 0. gatebench (one thread) and the four "
      "upstream servers (2 x `echo_server`, 2 x `echo_server --discard`) pinned to CPU 1. "
      "Ratio: gatehouse / the better of HAProxy and nginx on that line (above 1 is better for "
      "lines marked higher-is-better, below 1 for lower-is-better). The machine is shared: a "
      "median is over the runs during which other programs kept less than %d %% of a core busy "
      "(counts in the second table); † marks a cell where no run was that quiet and all runs "
      "were used." % CLEAN_OTHER)
print()
print("| test | metric | gatehouse | HAProxy 2.6 | nginx 1.22 | gatehouse / best peer |")
print("|---|---|---|---|---|---|")
for kind, title in (("plain", "1. plain TCP tput"), ("tls", "2. mTLS tput")):
    for c in (1, 16):
        test = "tput-%s-%d" % (kind, c)
        row("%s, %d conn" % (title, c), "Gbit/s (higher is better)", test, "gbits", 2, True)
        row("%s, %d conn" % (title, c), "Gbit per proxy CPU-s (higher is better)", test,
            "gbit_per_cpu_s", 2, True)
row("3. full mTLS handshakes, 16 at once", "handshakes/s (higher is better)", "connrate", "rate",
    0, True)
row("3. full mTLS handshakes, 16 at once", "proxy CPU-µs per handshake (lower is better)",
    "connrate", "cpu_us_per_op", 0, False)
for test, title in (("rr-plain", "4. echo 64 B, 64 conn, plain"),
                    ("rr-tls", "4. echo 64 B, 64 conn, mTLS")):
    row(title, "requests/s (higher is better)", test, "rate", 0, True)
    row(title, "latency p50 µs (lower is better)", test, "p50_us", 0, False)
    row(title, "latency p99 µs (lower is better)", test, "p99_us", 0, False)
    row(title, "latency p99.9 µs (lower is better)", test, "p999_us", 0, False)
    row(title, "proxy CPU-µs per request (lower is better)", test, "cpu_us_per_op", 2, False)
for r in rss:
    r["test"] = "rss"
row("5. idle mTLS connections held", "KiB RSS per connection (lower is better)", "rss",
    "kib_per_conn", 1, False, rss)
print()
print("Where the CPU went (medians, in %% of one core): the proxy / gatebench and the upstream "
      "servers together / how busy the load core (CPU 1) was / interrupt time on the proxy core "
      "(softirq: loopback TCP work the kernel accounts to no process, so it is not in the proxy's "
      "CPU time) / task time on both cores charged to none of these (other programs on this "
      "shared machine). A load core near 100 %% means "
      "the load generator and upstream servers set the rate, not the proxy: the per CPU-second, "
      "per-handshake and per-request figures are then the ones to compare. Before every run the "
      "script waited (up to 10 s, %s s in all) for both cores to be under 15 %% busy; %s run(s) "
      "started without that." % (quiet_budget, noisy_starts))
print()
print("| test | gatehouse | HAProxy 2.6 | nginx 1.22 | errors (all runs) |")
print("|---|---|---|---|---|")
tests = ["tput-plain-1", "tput-plain-16", "tput-tls-1", "tput-tls-16", "connrate", "rr-plain",
         "rr-tls"]
for test in tests:
    cells = []
    for t in targets:
        everything = [r for r in runs if r["test"] == test and r["target"] == t]
        quiet = [r for r in everything if r["other_pct"] < CLEAN_OTHER]
        cells.append(" / ".join(fmt(med(runs, test, t, k), 0) for k in
                                ("proxy_cpu_pct", "load_cpu_pct", "load_core_pct", "softirq_pct",
                                 "other_pct"))
                     + " (%d of %d quiet)" % (len(quiet), len(everything)))
    errors = []
    for t in targets:
        mine = [r for r in runs if r["test"] == test and r["target"] == t]
        n = sum(r["errors"] + r["dropped"] for r in mine)
        if n:
            kinds = {}
            for r in mine:
                for k, v in r["errors_by_kind"].items():
                    kinds[k] = kinds.get(k, 0) + v
            errors.append("%s: %d %s" % (names[t], n, kinds))
    print("| %s | %s | %s |" % (test, " | ".join(cells), "; ".join(errors) or "none"))
print()
print("Row 5, RSS per idle mTLS connection: N = %s connections (the most the open-file limit of "
      "%s allows with 2 descriptors each and every proxy capped at %s connections, minus a margin) "
      "opened over %s s (gatebench rr open loop, --rate %s/s: one 64-byte request per connection "
      "every %s s), through a freshly started proxy after a 1 s warm-up; VmRSS summed over the "
      "proxy's processes (nginx: master + worker), baseline before, median of 3 samples while "
      "held. Held = min(established on the proxy's port, established proxy -> upstream)."
      % (rss_n, nofile, max_conns, rss_open, rss_rate, rss_open))
print()
print("| proxy | held (of N) | RSS before, MiB | RSS while held, MiB | KiB per connection | gatebench errors |")
print("|---|---|---|---|---|---|")
for t in targets:
    rows = [r for r in rss if r["target"] == t]
    if not rows:
        continue
    m = lambda k: statistics.median_low([r[k] for r in rows if r[k] is not None] or [None])
    errors = sum(r["errors"] + r["dropped"] for r in rows)
    print("| %s | %d (of %s) | %.1f | %.1f | %s | %d |" % (names[t], m("held"), rss_n,
          m("base_kib") / 1024, m("held_kib") / 1024, fmt(m("kib_per_conn"), 1), errors))
print()
print("TLS check (openssl s_client with gatebench's suite and group order, before the load runs):")
print()
print("| proxy | NewSessionTicket messages | suite | group | data with client cert | data without |")
print("|---|---|---|---|---|---|")
for line in open(work + "/tls.txt"):
    t, tickets, cipher, group, with_, without = line.split()
    print("| %s | %s | %s | %s | %s | %s |" % (names[t], tickets, cipher, group, with_, without))
print()
print("gatehoused metrics after rows 1-4 (non-zero counters of connections, refusals and "
      "failures): %s. gatebench ends its TLS connections without a close_notify, which "
      "gatehoused counts as `forward_errors` (its access log says `stream truncated`); "
      "`handshake_failures{client_closed}` are connections gatebench dropped mid-handshake "
      "when a run ended, and one `no_certificate` is the TLS check's probe without a certificate."
      % open(work + "/gatehouse-metrics.txt").read().strip())
print()
print("Setup differences that remain:")
print()
for note in (
    "nginx open-source `stream` has no active health check (that is nginx Plus); it only marks "
    "an upstream failed after a failed connect (max_fails=1, fail_timeout=10s). gatehoused and "
    "HAProxy run TCP-connect checks every 2 s (timeout 1 s, rise 2, fall 3).",
    "gatehoused logs at `warn`: its access log (one line per connection, at `info`) is off, as "
    "HAProxy without `log` and nginx `stream` without `access_log` are.",
    "gatehoused maps the certificate to an identity and checks `authorization.apps` on every "
    "mTLS connection; HAProxy and nginx only verify the chain (the CA admits anyone it signed).",
    "Session tickets: gatehoused and nginx (`ssl_conf_command NumTickets 0`) set 0 themselves; "
    "HAProxy 2.6 has no such setting, so it gets OpenSSL's `NumTickets = 0` through an "
    "OPENSSL_CONF file read by HAProxy alone (besides `no-tls-tickets`, `tune.ssl.cachesize 0`).",
    "Plain TCP paths: HAProxy `option splice-auto`, nginx `proxy_buffer_size 64k` (their best "
    "settings in bench/forwarder_throughput.sh); gatehoused's forwarder picks splice or copy per "
    "direction itself. TLS paths cannot splice on any of the three.",
    "HAProxy `maxpipes 200` (the default maxconn/4 does not fit the descriptor limit).",
    "Handshake deadline: gatehoused `handshake_timeout 5s`, nginx `ssl_handshake_timeout 5s`; "
    "HAProxy 2.6 has no separate one (its `timeout client 1h` covers the handshake).",
    "Failover: gatehoused tries 3 dials; HAProxy `retries 2` + `option redispatch`; nginx "
    "`proxy_next_upstream_tries 3`. No dial fails in these runs, so this costs nothing here.",
    "Connection caps: all three at %s connections (gatehoused `lb.max_connections`, HAProxy "
    "`maxconn`, nginx `worker_connections` %d counting both sides)." % (max_conns,
                                                                      2 * int(max_conns) + 32),
    "gatehoused also runs its admin HTTP endpoint; HAProxy and nginx have no stats endpoint here.",
    "Throughput Gbit/s are bytes gatebench sent (bytes still in socket buffers at the end "
    "included), divided by the run's length; Gbit per proxy CPU-second divides the same bytes by "
    "the proxy's CPU time during the run.",
):
    print("- " + note)
print()
print("Every run (in the order run; the figure is Gbit/s for tput, requests/s otherwise):")
print()
print("| test | rep | proxy | figure | proxy CPU-µs per request | proxy CPU % | proxy core softirq % | load core busy % | other % |")
print("|---|---|---|---|---|---|---|---|---|")
for r in runs:
    figure = fmt(r["gbits"], 2) if r["test"].startswith("tput") else fmt(r["rate"], 0)
    print("| %s | %d | %s | %s | %s | %.0f | %.0f | %.0f | %.0f |" % (
        r["test"], r["rep"], names[r["target"]], figure, fmt(r["cpu_us_per_op"], 2),
        r["proxy_cpu_pct"], r["softirq_pct"], r["load_core_pct"], r["other_pct"]))
PY
tee "$results_file" <"$work/report.md"
