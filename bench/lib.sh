# shellcheck shell=bash
# Shared by the bench/*.sh scripts (sourced, not run): a scratch directory and background
# processes removed on exit, waiting for a port, free ports, a PKI, CPU time of a process,
# medians.
# After sourcing: $work is a fresh directory; append background pids to the `pids` array.

work=$(mktemp -d)
pids=()
# SIGTERM, then up to 5 s for each to exit, then SIGKILL: a server that ignores SIGTERM does not
# hang the script on its way out.
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Waits (up to 5 s) until something accepts connections on 127.0.0.1:$1.
wait_for_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# CPU time (clock ticks, user + system) of a process and its children (nginx's worker).
cpu_ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}

# Exits (status 1) naming the first of the given 127.0.0.1 ports that something listens on;
# $1 says which ports the benchmark needs, for the message.
require_free_ports() {
  local needed=$1 p
  shift
  for p in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "port $p is already in use on 127.0.0.1; this benchmark needs $needed free" >&2
      exit 1
    fi
  done
}

# A run-time PKI in $work/pki (CA, server, and a client "bench" with role bench), made with the
# build's own `gatehouse certs`; sets $pki and $tls_args (gatebench's mTLS flags). Needs $bin.
make_bench_pki() {
  pki=$work/pki
  # shellcheck disable=SC2154  # $bin is the sourcing script's
  "$bin/gatehouse" certs init --dir "$pki" >/dev/null
  "$bin/gatehouse" certs issue --dir "$pki" --name bench --role bench >/dev/null
  # shellcheck disable=SC2034  # for the sourcing script
  tls_args=(--tls --ca "$pki/ca.pem" --cert "$pki/bench.pem" --key "$pki/bench.key" --server-name localhost)
}

# One gatebench connrate run on CPU 1 against $2 (HOST:PORT or HOST:FIRST-LAST) while process $1
# forwards it; prints "connections_per_second cpu_us_per_connection" (the CPU of $1). $3 names
# the run in errors; $4 is how long it lasts (gatebench's --duration). Needs $bin, $work, $clk.
connrate_cpu_run() {
  local pid=$1 target=$2 name=$3 duration=$4 before after
  before=$(cpu_ticks "$pid")
  # shellcheck disable=SC2154  # $bin and $work are the sourcing script's
  taskset -c 1 "$bin/gatebench" connrate --target "$target" --connections 16 --threads 1 \
    --duration "$duration" --quiet --json "$work/run.json" >/dev/null
  after=$(cpu_ticks "$pid")
  # shellcheck disable=SC2154  # $clk is the sourcing script's
  python3 - "$work/run.json" "$((after - before))" "$clk" "$name" <<'PY'
import json, sys
report, ticks, clk, name = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
total = report["total"]
if total["errors"]:
    sys.exit(f"gatebench connrate ({name}): {total['errors']} errors")
ops = total["connections_opened"]
print(ops / report["elapsed_seconds"], ticks / clk * 1e6 / max(ops, 1))
PY
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
