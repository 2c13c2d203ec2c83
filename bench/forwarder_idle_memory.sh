#!/usr/bin/env bash
# What an idle proxied connection costs the lb forwarder: resident memory and descriptors per
# connection, for plain TCP and for mTLS terminated by the proxy (bench/lb_forward_server with
# --tls-*, TLS 1.3 with a client certificate from a CA made here with openssl).
# A Python client opens N connections through the proxy to bench/echo_server, sends one 64-byte
# request on each and reads the echo (so both directions of every connection have moved bytes,
# and gone idle again), then holds them all while the proxy's VmRSS and open descriptors are read
# from /proc. The figures are (after - before) / N, "before" being the proxy after one warm-up
# connection.
#
#   bench/forwarder_idle_memory.sh [connections] [splice-mode]
#   BIN_DIR=build/helper/bin bench/forwarder_idle_memory.sh ...  # an existing build, no `make build`
# N defaults to 9000: each connection takes two of the proxy's descriptors, and the hard limit
# here is 20,000 per process. Writes the table to bench/results/forwarder-idle-memory.md too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

connections=${1:-9000}
mode=${2:-auto}
echo_port=25801
plain_port=25802
tls_port=25803
if [[ -z ${BIN_DIR:-} ]]; then
  make --no-print-directory build >/dev/null
  BIN_DIR=build/release/bin
fi
ulimit -n "$(ulimit -Hn)"

# shellcheck source=bench/lib.sh
source bench/lib.sh

# A CA, a server certificate (serverAuth, IP 127.0.0.1) and a client certificate (clientAuth).
pki=$work/pki
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
issue() {
  local name=$1 usage=$2 san=$3
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s' \
    "$usage" "$san" >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 2 -extfile "$pki/$name.ext" -out "$pki/$name.pem" 2>/dev/null
}
issue server serverAuth "subjectAltName=IP:127.0.0.1"
issue client clientAuth ""

"$BIN_DIR/echo_server" --listen "127.0.0.1:$echo_port" >/dev/null 2>&1 &
pids+=($!)
"$BIN_DIR/lb_forward_server" --splice "$mode" --listen "127.0.0.1:$plain_port" \
  --upstream "127.0.0.1:$echo_port" >/dev/null &
pids+=($!)
plain_pid=$!
"$BIN_DIR/lb_forward_server" --splice "$mode" --listen "127.0.0.1:$tls_port" \
  --upstream "127.0.0.1:$echo_port" --tls-cert "$pki/server.pem" --tls-key "$pki/server.key" \
  --tls-ca "$pki/ca.pem" >/dev/null &
pids+=($!)
tls_pid=$!
for port in "$echo_port" "$plain_port" "$tls_port"; do wait_for_port "$port"; done

cat >"$work/hold.py" <<'PY'
import os, resource, socket, ssl, sys

port, proxy_pid, count, pki = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
use_tls = pki != "-"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
context = None
if use_tls:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(f"{pki}/ca.pem")
    context.load_cert_chain(f"{pki}/client.pem", f"{pki}/client.key")

def proxy_state():
    with open(f"/proc/{proxy_pid}/status") as status:
        rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    kinds = {"socket": 0, "pipe": 0, "other": 0}
    for fd in os.listdir(f"/proc/{proxy_pid}/fd"):
        try:
            target = os.readlink(f"/proc/{proxy_pid}/fd/{fd}")
        except OSError:
            continue
        kind = target.split(":")[0]
        kinds[kind if kind in kinds else "other"] += 1
    return rss_kib, kinds

def connect(i):
    raw = socket.create_connection(("127.0.0.1", port))
    conn = context.wrap_socket(raw, server_hostname="127.0.0.1") if use_tls else raw
    request = (b"request %d " % i).ljust(64, b".")
    conn.sendall(request)
    reply = b""
    while len(reply) < len(request):
        chunk = conn.recv(len(request) - len(reply))
        if not chunk:
            raise RuntimeError(f"connection {i}: closed early")
        reply += chunk
    if reply != request:
        raise RuntimeError(f"connection {i}: wrong echo")
    return conn

connect(-1).close()  # warm-up: the proxy's first connection allocates once-only state
before = proxy_state()
held = [connect(i) for i in range(count)]
after = proxy_state()
print("%d %d %d %d %d %d" % (count, after[0] - before[0], after[1]["socket"] - before[1]["socket"],
                            after[1]["pipe"] - before[1]["pipe"], after[1]["pipe"], after[0]))
for conn in held:
    conn.close()
PY

{
  echo "Idle connections held through bench/lb_forward_server (--splice $mode), after one 64-byte echo each:"
  echo
  echo "| client side | connections | proxy RSS growth | RSS per connection | proxy sockets per connection | proxy pipe ends per connection | proxy RSS total |"
  echo "|---|---|---|---|---|---|---|"
  for kind in plain mtls; do
    if [[ $kind == plain ]]; then
      line=$(python3 "$work/hold.py" "$plain_port" "$plain_pid" "$connections" -)
    else
      line=$(python3 "$work/hold.py" "$tls_port" "$tls_pid" "$connections" "$pki")
    fi
    read -r count rss_kib sockets pipes _ total_kib <<<"$line"
    python3 -c "print('| $kind | $count | %.1f MiB | %.1f KiB | %.2f | %.2f | %.1f MiB |' % ($rss_kib / 1024, $rss_kib / $count, $sockets / $count, $pipes / $count, $total_kib / 1024))"
  done
  echo
  echo "$(nproc) CPUs; $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)."
} | tee bench/results/forwarder-idle-memory.md
