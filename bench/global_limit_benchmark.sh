#!/usr/bin/env bash
# What `rate_limit: {scope: global}` costs on the data path (issue #12): connection-rate
# throughput and gatehoused CPU per connection through one node with the same per-client limit
# kept globally (in Redis, through leased tokens), locally (in the node), and with no limit,
# side by side in one run. The limit is set far above the offered load (1,000,000/s, burst
# 1,000,000), so no connection is refused: what is measured is the cost of admission, not its
# effect. `lease_size: 100` makes the node lease from Redis about 70 times a second at this load
# (the default, a tenth of a second of the rate, would be 100,000 tokens: one lease in the whole
# run). The per-call cost of Admit itself (p50/p99) is bench/globallimit_admit_bench.
#
#   bench/global_limit_benchmark.sh [seconds-per-run] [repetitions]   defaults: 5 5
#
# Three gatehoused daemons (one worker each, pinned to CPU 0) forward plain TCP to one echo
# upstream; gatebench connrate (CPU 1) opens connections, one 64-byte echo each, 16 at once.
# The client is the source address (tls: none apps), so all connections are one identity, which
# is the case a per-client limit exists for. redis-server runs on loopback with a password, in a
# temporary directory, started and stopped here. CPU-µs per connection is read from
# /proc/PID/stat: the load core saturates first on a 2-core machine, so CPU per connection is
# the figure that tells the rows apart. Runs are interleaved; medians are reported (the ratio
# is the median of each repetition's own ratio).
# Prints a Markdown table and writes it to bench/results/global_limit.md.
set -euo pipefail
command_line="bench/global_limit_benchmark.sh${*:+ $*}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-5}
reps=${2:-5}
for value in "$seconds" "$reps"; do
  if ! [[ $value =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bench/global_limit_benchmark.sh [seconds] [repetitions] (positive whole numbers)" >&2
    exit 2
  fi
done
results_file=bench/results/global_limit.md
echo_port=31702
redis_port=31703
declare -A app_ports=([global]=31711 [local]=31712 [none]=31713)
declare -A admin_ports=([global]=31721 [local]=31722 [none]=31723)
clk=$(getconf CLK_TCK)

bash scripts/install-deps.sh --with bench
make --no-print-directory build >/dev/null
bin=build/release/bin

# shellcheck source=bench/lib.sh
source bench/lib.sh

require_free_ports "31702-31723" "$echo_port" "$redis_port" "${app_ports[@]}" "${admin_ports[@]}"
make_bench_pki

password=$(openssl rand -hex 24)
printf '%s\n' "$password" >"$work/redis.password"
chmod 600 "$work/redis.password"
mkdir -p "$work/redis"
taskset -c 1 redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$work/redis" --requirepass "$password" >"$work/redis.log" 2>&1 &
pids+=($!)
wait_for_port "$redis_port"

# $1 name, $2 the app's rate_limit (YAML, or empty for none).
write_config() {
  cat >"$work/$1.yaml" <<CFG
log: {level: warn}
tls: {ca: $pki/ca.pem, cert: $pki/server.pem, key: $pki/server.key}
admin: {listen: 127.0.0.1:${admin_ports[$1]}}
authorization:
  apps:
    $1: {users: ["*"]}
global_rate_limits: {redis: 127.0.0.1:$redis_port, password_file: $work/redis.password, lease_size: 100}
lb:
  workers: 1
  apps:
    - name: $1
      tls: none
      upstreams: [127.0.0.1:$echo_port]
      listen: 127.0.0.1:${app_ports[$1]}
${2:+      rate_limit: $2}
CFG
}
write_config global "{connections_per_second: 1000000, burst: 1000000, scope: global}"
write_config local "{connections_per_second: 1000000, burst: 1000000, scope: local}"
write_config none ""

taskset -c 1 "$bin/echo_server" --listen "127.0.0.1:$echo_port" >/dev/null 2>&1 &
pids+=($!)
wait_for_port "$echo_port"

declare -A daemon_pid rates cpus
names=(global local none)
for name in "${names[@]}"; do
  taskset -c 0 "$bin/gatehoused" --config "$work/$name.yaml" >"$work/$name.log" 2>&1 &
  daemon_pid[$name]=$!
  pids+=($!)
  wait_for_port "${app_ports[$name]}"
done

# One run: prints "rate cpu_us_per_connection".
run() { connrate_cpu_run "${daemon_pid[$1]}" "127.0.0.1:${app_ports[$1]}" "$1" "${seconds}s"; }

for ((rep = 1; rep <= reps; rep++)); do
  for name in "${names[@]}"; do
    read -r rate cpu < <(run "$name")
    rates[$name]+="$rate "
    cpus[$name]+="$cpu "
    echo "$name rep $rep: $rate connections/s, $cpu gatehoused CPU-us per connection" >&2
  done
done

# The global node must really have used Redis, not its fallback.
leases=$(curl -fsS "http://127.0.0.1:${admin_ports[global]}/metrics" |
  awk '$1 == "gatehouse_lb_global_rate_limit_leases_total" {print $2}')
fallback=$(curl -fsS "http://127.0.0.1:${admin_ports[global]}/metrics" |
  awk '/^gatehouse_lb_global_rate_limit_fallback_total/ {s += $2} END {print s + 0}')
if [[ -z $leases || $leases == 0 || $fallback != 0 ]]; then
  echo "the global node did not lease from Redis (leases ${leases:-none}, fallback $fallback)" >&2
  exit 1
fi

{
  echo "# Global (Redis) against local rate limits: cost per connection through one node"
  echo
  echo "Command: \`$command_line\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r)); medians of $reps runs of ${seconds}s; the global node took $leases leases from Redis and admitted nothing by fallback."
  echo
  echo "| rate_limit | connections/s | gatehoused CPU-µs per connection | CPU per connection ÷ local's |"
  echo "|---|---|---|---|"
  for name in "${names[@]}"; do
    case $name in
      global) label="\`scope: global\` (Redis, leased)" ;;
      local) label="\`scope: local\`" ;;
      none) label="none (reference)" ;;
    esac
    python3 - "$label" "${rates[$name]}" "${cpus[$name]}" "${cpus[local]}" <<'PY'
import statistics, sys
label, rates, cpus, local = sys.argv[1], *[list(map(float, a.split())) for a in sys.argv[2:5]]
ratio = statistics.median(c / l for c, l in zip(cpus, local))
print(f"| {label} | {statistics.median(rates):,.0f} | {statistics.median(cpus):.1f} | {ratio:.3f} |")
PY
  done
} | tee "$results_file"
