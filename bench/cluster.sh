#!/usr/bin/env bash
# Scale-out figures, all in one run:
#   1. /v1/verify (session cookie, EdDSA bearer) with wrk on three topologies:
#      one node on SQLite; one node on PostgreSQL + Redis; three nodes on
#      PostgreSQL + Redis behind nginx round-robin (deploy/cluster/nginx.conf).
#      Each topology gets the same one core (CPU 0: the node or nodes, and
#      nginx); wrk runs on CPU 1. /healthz of each topology is its floor.
#   2. Revocation propagation over the three nodes: ≥ 1000 revocations made on
#      one node, each timed until both others refuse the credential
#      (crates/tessera/examples/propagation.rs).
#
# Needs wrk and nginx (Debian), PostgreSQL and Redis (URLs from
# TESSERA_TEST_POSTGRES_URL and TESSERA_TEST_REDIS_URL, defaults the local
# ones). Uses a fresh database and a fresh Redis key prefix, removed at exit.
#
# Usage: bench/cluster.sh [seconds-per-case] [connections] [revocations]
# Writes bench/results/cluster.{json,md} and bench/results/propagation.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
ROUNDS="${3:-1000}"
source bench/lib.sh
command -v nginx >/dev/null || { echo "bench: nginx is missing (apt-get install nginx)" >&2; exit 1; }
cargo build --release -q -p tessera --example propagation

PG_ADMIN="${TESSERA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${TESSERA_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
RUN_ID="$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
DB="tessera_bench_$RUN_ID"
PREFIX="bench-$RUN_ID"
MASTER="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
psql -q "$PG_ADMIN" -c "CREATE DATABASE $DB"
PG_URL="${PG_ADMIN%/*}/$DB"
NODE_PIDS=()

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1="$(free_port)"; P2="$(free_port)"; P3="$(free_port)"; PN="$(free_port)"
NODES="http://127.0.0.1:$P1,http://127.0.0.1:$P2,http://127.0.0.1:$P3"

cluster_cleanup() {
  for pid in "${NODE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  redis-cli -u "$REDIS_URL" --scan --pattern "*$PREFIX*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null || true
  cleanup
}
trap cluster_cleanup EXIT

# The settings every node shares: the stores, the master key, one issuer
# (nginx's URL) and the origins.
SHARED_ENV=(TESSERA_STORE="$PG_URL" TESSERA_REDIS_URL="$REDIS_URL" TESSERA_REDIS_PREFIX="$PREFIX"
  TESSERA_MASTER_KEY="$MASTER" TESSERA_TRUSTED_PROXIES=127.0.0.1
  TESSERA_ISSUER="http://127.0.0.1:$PN" TESSERA_ALLOWED_ORIGINS="http://127.0.0.1:$PN,$NODES")
# shared_env CMD...: runs CMD with those settings.
shared_env() { env "${SHARED_ENV[@]}" "$@"; }

# start_node PORT: one shared-store node on CPU 0 with one tokio worker.
# A plain external command in the background (no function, no subshell), so
# that $! is the server's own PID and the cleanup really stops it.
start_node() {
  env "${SHARED_ENV[@]}" TESSERA_LISTEN="127.0.0.1:$1" TOKIO_WORKER_THREADS=1 RUST_LOG=warn \
    taskset -c 0 "$BIN" serve 2>"$WORK/node-$1.log" &
  NODE_PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return; sleep 0.1; done
  echo "bench: node on $1 did not become ready" >&2; cat "$WORK/node-$1.log" >&2; exit 1
}

stop_nodes() {
  for pid in "${NODE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${NODE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  NODE_PIDS=()
}

# run TOPOLOGY NAME URL [HEADER] → "TOPOLOGY/NAME rps p50_ms p99_ms"
run() {
  local name="$1/$2" url="$3"
  curl -sf -o /dev/null ${4:+-H "$4"} "$url" || { echo "bench: $name does not answer 200" >&2; exit 1; }
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s ${4:+-H "$4"} "$url" >/dev/null   # warm-up
  wrk_row "$name" "$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency ${4:+-H "$4"} "$url")"
}

# measure TOPOLOGY BASE: the floor and both credentials, logged in through BASE.
measure() {
  local session bearer
  session="$(BASE="$2" session_login)"
  bearer="$(BASE="$2" token_login)"
  [ -n "$session" ] && [ -n "$bearer" ] || { echo "bench: logins on $1 failed" >&2; exit 1; }
  ROWS+=("$(run "$1" healthz "$2/healthz")")
  ROWS+=("$(run "$1" verify_session "$2/v1/verify" "Cookie: tessera_session=$session")")
  ROWS+=("$(run "$1" verify_bearer_eddsa "$2/v1/verify" "Authorization: Bearer $bearer")")
}
ROWS=()

# 1. One node, SQLite (bench/lib.sh's server).
start_server 0
measure sqlite_1_node "$BASE"
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

# 2. One node, PostgreSQL + Redis.
printf '%s' "$PW" | shared_env "$BIN" user add bench --password-stdin >/dev/null
printf '%s' "propagation-benchmark-password" | shared_env "$BIN" user add prop --password-stdin >/dev/null
start_node "$P1"
measure pg_redis_1_node "http://127.0.0.1:$P1"

# 3. Three nodes behind nginx, from the example configuration.
start_node "$P2"
start_node "$P3"
mkdir -p "$WORK/nginx"
sed -e "0,/server 127.0.0.1:8081/s//server 127.0.0.1:$P1/" \
    -e "0,/server 127.0.0.1:8082/s//server 127.0.0.1:$P2/" \
    -e "0,/server 127.0.0.1:8083/s//server 127.0.0.1:$P3/" \
    -e "s/listen 8000;/listen 127.0.0.1:$PN;/" deploy/cluster/nginx.conf >"$WORK/nginx/site.conf"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  include $WORK/nginx/site.conf;
}
EOF
taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PN/healthz" >/dev/null && break; sleep 0.1; done
measure pg_redis_3_nodes_nginx "http://127.0.0.1:$PN"

# 4. Revocation propagation: made on node 1, watched on nodes 2 and 3.
PROPAGATION="$(target/release/examples/propagation --rounds "$ROUNDS" \
  --nodes "$NODES" \
  --out bench/results/propagation)"

python3 - "$DURATION" "$CONNECTIONS" "${ROWS[@]}" <<'PY'
import json, sys, datetime, pathlib
duration, connections = int(sys.argv[1]), int(sys.argv[2])
rows = [r.split() for r in sys.argv[3:]]
floors = {n.split("/")[0]: float(r) for n, r, _, _ in rows if n.endswith("/healthz")}
out = [{"topology": n.split("/")[0], "case": n.split("/")[1], "req_per_s": float(r),
        "p50_ms": float(a), "p99_ms": float(b),
        "ratio_to_own_healthz": round(float(r) / floors[n.split("/")[0]], 3)} for n, r, a, b in rows]
meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": duration, "connections": connections,
        "setup": "release build; every topology on CPU 0 (each node 1 tokio worker; nginx 1 worker), wrk -t1 on CPU 1"}
res = pathlib.Path("bench/results"); res.mkdir(parents=True, exist_ok=True)
(res / "cluster.json").write_text(json.dumps({"meta": meta, "results": out}, indent=2) + "\n")
md = ["| topology | case | req/s | p50 ms | p99 ms | × own /healthz |", "|---|---|---:|---:|---:|---:|"]
md += [f"| {r['topology']} | {r['case']} | {r['req_per_s']:.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['ratio_to_own_healthz']} |" for r in out]
(res / "cluster.md").write_text(f"<!-- {meta['date']}: {meta['setup']}, {connections} connections, {duration} s per case -->\n" + "\n".join(md) + "\n")
print("\n".join(md))
PY
echo
echo "$PROPAGATION"
