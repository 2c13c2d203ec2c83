# shellcheck shell=bash
# Shared by the bench/*.sh scripts (sourced, not run): a scratch directory and background
# processes removed on exit, waiting for a port, CPU time of a process, medians.
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

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
