#!/usr/bin/env bash
# What routing by server name costs (`tls: sni`, issue #11): the same mTLS app reached directly
# and through a tls: sni listener whose route terminates TLS for it, side by side in one run.
# Both do the same handshake, identity, authorization, dial and forwarding; the routed one also
# peeks and parses the ClientHello first.
#
#   bench/sni_benchmark.sh [seconds-per-run] [repetitions]     defaults: 5 3
#
# gatehoused runs one worker pinned to CPU 0; gatebench and the echo upstream share CPU 1.
# Rows: full mTLS handshakes per second (gatebench connrate --tls, 16 at once, one 64-byte
# echo per connection) and 64-byte echoes over 16 kept connections (gatebench rr --tls). Each
# with gatehoused's CPU-µs per connection or request, from /proc/PID/stat: with the load core
# saturating first, CPU per operation is the figure that tells the two apart. Runs are
# interleaved (direct, routed, direct, ...) and medians reported.
# Prints a Markdown table and writes it to bench/results/sni.md.
set -euo pipefail
command_line="bench/sni_benchmark.sh${*:+ $*}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-5}
reps=${2:-3}
for value in "$seconds" "$reps"; do
  if ! [[ $value =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bench/sni_benchmark.sh [seconds] [repetitions] (positive whole numbers)" >&2
    exit 2
  fi
done
results_file=bench/results/sni.md
echo_port=26501
admin_port=26510
direct_port=26511
routed_port=26512
clk=$(getconf CLK_TCK)

bash scripts/install-deps.sh --with bench
make --no-print-directory build >/dev/null
bin=build/release/bin

# shellcheck source=bench/lib.sh
source bench/lib.sh

require_free_ports 26501-26512 "$echo_port" "$admin_port" "$direct_port" "$routed_port"
make_bench_pki

cat >"$work/gatehouse.yaml" <<CFG
log: {level: warn}
tls: {ca: $pki/ca.pem, cert: $pki/server.pem, key: $pki/server.key}
admin: {listen: 127.0.0.1:$admin_port}
authorization:
  apps:
    direct: {users: [bench]}
    routed: {users: [bench]}
lb:
  workers: 1
  apps:
    - {name: direct, listen: 127.0.0.1:$direct_port, upstreams: [127.0.0.1:$echo_port]}
    - name: edge
      listen: 127.0.0.1:$routed_port
      tls: sni
      routes: [{server_name: localhost, app: routed}]
    - {name: routed, upstreams: [127.0.0.1:$echo_port]}
CFG

taskset -c 1 "$bin/echo_server" --listen "127.0.0.1:$echo_port" >/dev/null 2>&1 &
pids+=($!)
taskset -c 0 "$bin/gatehoused" --config "$work/gatehouse.yaml" >"$work/gatehouse.log" 2>&1 &
gatehoused_pid=$!
pids+=($!)
for p in "$echo_port" "$direct_port" "$routed_port"; do wait_for_port "$p"; done

# One run: prints "rate cpu_us_per_op".
run() {
  local mode=$1 port=$2 before after
  before=$(cpu_ticks "$gatehoused_pid")
  taskset -c 1 "$bin/gatebench" "$mode" --target "127.0.0.1:$port" --connections 16 --threads 1 \
    --duration "${seconds}s" --quiet --json "$work/run.json" "${tls_args[@]}" >/dev/null
  after=$(cpu_ticks "$gatehoused_pid")
  python3 - "$work/run.json" "$((after - before))" "$clk" "$mode" <<'PY'
import json, sys
report, ticks, clk, mode = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
total = report["total"]
ops = total["connections_opened"] if mode == "connrate" else total["requests"]
if total["errors"]:
    sys.exit(f"gatebench {mode}: {total['errors']} errors")
print(ops / report["elapsed_seconds"], ticks / clk * 1e6 / max(ops, 1))
PY
}

declare -A rates cpus
for ((rep = 1; rep <= reps; rep++)); do
  for mode in connrate rr; do
    for target in direct routed; do
      port=$direct_port
      [[ $target == routed ]] && port=$routed_port
      read -r rate cpu < <(run "$mode" "$port")
      rates[$mode-$target]+="$rate "
      cpus[$mode-$target]+="$cpu "
      echo "$mode $target rep $rep: $rate/s, $cpu gatehoused CPU-us per op" >&2
    done
  done
done

{
  echo "# Routing by server name: the same mTLS app direct and through a tls: sni listener"
  echo
  echo "Command: \`$command_line\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs); medians of $reps."
  echo
  echo "| load | direct /s | routed /s | routed / direct | direct CPU-µs per op | routed CPU-µs per op | routed − direct |"
  echo "|---|---|---|---|---|---|---|"
  for mode in connrate rr; do
    # shellcheck disable=SC2086  # one word per run
    read -r dr rr_ dc rc < <(echo "$(median ${rates[$mode-direct]}) $(median ${rates[$mode-routed]}) $(median ${cpus[$mode-direct]}) $(median ${cpus[$mode-routed]})")
    label="full mTLS handshakes, 16 at once"
    [[ $mode == rr ]] && label="64-byte echoes, 16 kept connections"
    python3 -c "
dr, rr, dc, rc = $dr, $rr_, $dc, $rc
print(f'| $label | {dr:,.0f} | {rr:,.0f} | {rr / dr:.3f} | {dc:.1f} | {rc:.1f} | {rc - dc:+.1f} |')"
  done
} | tee "$results_file"
