#!/usr/bin/env bash
# What BPF sk_lookup steering of a port range costs and saves (issue #11): one gatehoused app
# listening on 10,000 ports through steering (one socket) against the same app with one plain
# listener per port (10,000 sockets), side by side in one run; a single-port app is the
# reference for the accept path without either.
#
#   bench/steering_benchmark.sh [seconds-per-run] [repetitions] [ports]   defaults: 5 3 10000
#
# Three gatehoused daemons (one worker each, pinned to CPU 0) forward plain TCP to one echo
# upstream; gatebench (CPU 1) opens connections to a random port of the range, one 64-byte echo
# each, 16 at once (gatebench connrate --target HOST:FIRST-LAST). Rows: connections per second,
# gatehoused CPU-µs per connection (from /proc/PID/stat: the load core saturates first, so CPU
# per connection is the figure that tells them apart), the daemon's RSS (after start and after
# the load), its open descriptors after start, and the time from exec to the range's last port
# accepting.
# Runs are interleaved and medians reported (a ratio: the median of each repetition's ratio).
# Needs root (CAP_BPF + CAP_NET_ADMIN) for steering.
# Prints a Markdown table and writes it to bench/results/steering.md.
set -euo pipefail
command_line="bench/steering_benchmark.sh${*:+ $*}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-5}
reps=${2:-3}
ports=${3:-10000}
for value in "$seconds" "$reps" "$ports"; do
  if ! [[ $value =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bench/steering_benchmark.sh [seconds] [repetitions] [ports] (positive whole numbers)" >&2
    exit 2
  fi
done
if ((ports > 10000)); then
  echo "ports: at most 10000 (the ranges 10000-19999 and 20000-29999 are used)" >&2
  exit 2
fi
if [[ $(id -u) != 0 ]]; then
  echo "steering needs root (CAP_BPF and CAP_NET_ADMIN)" >&2
  exit 1
fi
results_file=bench/results/steering.md
steered_first=10000
plain_first=20000
single_port=31601
echo_port=31602
admin_ports=(31610 31611 31612)
clk=$(getconf CLK_TCK)

bash scripts/install-deps.sh --with bench
make --no-print-directory build >/dev/null
bin=build/release/bin

# shellcheck source=bench/lib.sh
source bench/lib.sh

# Below the ephemeral port range, so that no client connection takes a port of ours; checked
# free, since a listener there would be shadowed by steering (steered) or collide (plain).
busy=$(ss -Htln | awk -v lo="$steered_first" -v hi="$((plain_first + ports - 1))" \
  '{n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi) print $4}' | head -3)
if [[ -n $busy ]]; then
  echo "something listens in $steered_first-$((plain_first + ports - 1)): $busy" >&2
  exit 1
fi
require_free_ports "31601-31612" "$single_port" "$echo_port" "${admin_ports[@]}"
make_bench_pki  # the daemon's own certificate is required, even when every app is plain TCP

# $1 name, $2 admin port, $3 the app's listen list (YAML).
write_config() {
  cat >"$work/$1.yaml" <<CFG
log: {level: warn}
tls: {ca: $pki/ca.pem, cert: $pki/server.pem, key: $pki/server.key}
admin: {listen: 127.0.0.1:$2}
authorization:
  apps:
    $1: {users: ["*"]}
lb:
  workers: 1
  apps:
    - {name: $1, tls: none, upstreams: [127.0.0.1:$echo_port], listen: $3}
CFG
}
write_config steered "${admin_ports[0]}" "[127.0.0.1:$steered_first-$((steered_first + ports - 1))]"
write_config plain "${admin_ports[1]}" \
  "[$(seq -s, -f "127.0.0.1:%g" "$plain_first" "$((plain_first + ports - 1))")]"
write_config single "${admin_ports[2]}" "[127.0.0.1:$single_port]"

taskset -c 1 "$bin/echo_server" --listen "127.0.0.1:$echo_port" >/dev/null 2>&1 &
pids+=($!)
wait_for_port "$echo_port"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# Starts daemon $1 whose last port is $2 and waits (up to 60 s) for that port; sets
# daemon_pid[$1], start_ms[$1], and the idle RSS and descriptors.
declare -A daemon_pid start_ms idle_rss idle_fds loaded_rss rates cpus
start_daemon() {
  local name=$1 last_port=$2 began ended
  began=$(date +%s%N)
  taskset -c 0 "$bin/gatehoused" --config "$work/$name.yaml" >"$work/$name.log" 2>&1 &
  daemon_pid[$name]=$!
  pids+=($!)
  for _ in $(seq 1 6000); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$last_port") 2>/dev/null; then break; fi
    if ! kill -0 "${daemon_pid[$name]}" 2>/dev/null; then
      echo "gatehoused ($name) exited:" >&2
      cat "$work/$name.log" >&2
      exit 1
    fi
    sleep 0.01
  done
  ended=$(date +%s%N)
  start_ms[$name]=$(((ended - began) / 1000000))
  idle_rss[$name]=$(rss_kib "${daemon_pid[$name]}")
  idle_fds[$name]=$(fds "${daemon_pid[$name]}")
}
start_daemon steered "$((steered_first + ports - 1))"
start_daemon plain "$((plain_first + ports - 1))"
start_daemon single "$single_port"

# One run: prints "rate cpu_us_per_connection".
run() { connrate_cpu_run "${daemon_pid[$1]}" "$2" "$1" "${seconds}s"; }

declare -A targets=(
  [steered]="127.0.0.1:$steered_first-$((steered_first + ports - 1))"
  [plain]="127.0.0.1:$plain_first-$((plain_first + ports - 1))"
  [single]="127.0.0.1:$single_port"
)
names=(steered plain single)
for ((rep = 1; rep <= reps; rep++)); do
  for name in "${names[@]}"; do
    read -r rate cpu < <(run "$name" "${targets[$name]}")
    rates[$name]+="$rate "
    cpus[$name]+="$cpu "
    echo "$name rep $rep: $rate connections/s, $cpu gatehoused CPU-us per connection" >&2
  done
done
for name in "${names[@]}"; do
  loaded_rss[$name]=$(rss_kib "${daemon_pid[$name]}")
done

{
  echo "# BPF sk_lookup steering: $ports ports through one socket against one listener per port"
  echo
  echo "Command: \`$command_line\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r)); medians of $reps runs of ${seconds}s."
  echo
  echo "| listen | connections/s | gatehoused CPU-µs per connection | CPU per connection ÷ steered's | RSS after start | RSS after load | open fds after start | start to last port accepting |"
  echo "|---|---|---|---|---|---|---|---|"
  for name in "${names[@]}"; do
    case $name in
      steered) label="$ports ports, steered (\`127.0.0.1:$steered_first-$((steered_first + ports - 1))\`)" ;;
      plain) label="$ports ports, one listener each" ;;
      single) label="1 port, plain (reference)" ;;
    esac
    # The ratio is the median of each repetition's own ratio: runs of one repetition are
    # back to back, so they share whatever state the machine is in.
    python3 - "$label" "${rates[$name]}" "${cpus[$name]}" "${cpus[steered]}" "${idle_rss[$name]}" \
      "${loaded_rss[$name]}" "${idle_fds[$name]}" "${start_ms[$name]}" <<'PY'
import statistics, sys
label, rates, cpus, steered = sys.argv[1], *[list(map(float, a.split())) for a in sys.argv[2:5]]
idle_rss, loaded_rss, fds, start_ms = map(int, sys.argv[5:9])
ratio = statistics.median(c / s for c, s in zip(cpus, steered))
print(f"| {label} | {statistics.median(rates):,.0f} | {statistics.median(cpus):.1f} | {ratio:.2f} "
      f"| {idle_rss / 1024:.1f} MiB | {loaded_rss / 1024:.1f} MiB | {fds} | {start_ms} ms |")
PY
  done
} | tee "$results_file"
