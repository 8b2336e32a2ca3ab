# Shared parts of the benchmark scripts: build, a free port, a server on a
# fresh SQLite store with one user, logins, and wrk output parsing.
# Source it from bench/*.sh after `cd` to the repository root.

command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p tessera
BIN="$PWD/target/release/tessera"
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
PW="bench password 123"
CREDS="{\"username\":\"bench\",\"password\":\"$PW\"}"
export TESSERA_STORE="sqlite://$WORK/bench.db" TESSERA_LISTEN="127.0.0.1:$PORT" TESSERA_INSECURE_COOKIES=1

SERVER_PIDS=()   # servers started by start_tessera, stopped at exit too
cleanup() {
  for pid in ${PID:-} ${FLOOD:-} "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_server [taskset-cpu]: registers `bench`, starts `tessera serve` with one tokio worker.
start_server() {
  printf '%s' "$PW" | "$BIN" user add bench --password-stdin >/dev/null
  if [ -n "${1:-}" ]; then
    TOKIO_WORKER_THREADS=1 RUST_LOG=warn taskset -c "$1" "$BIN" serve 2>"$WORK/server.log" &
  else
    TOKIO_WORKER_THREADS=1 RUST_LOG=warn "$BIN" serve 2>"$WORK/server.log" &
  fi
  PID=$!
  for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && return; sleep 0.1; done
  echo "bench: the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_tessera PORT LOG [NAME=VALUE...]: one more `tessera serve` on
# 127.0.0.1:PORT, pinned to CPU 0 with one tokio worker, with NAME=VALUE on top
# of the exported settings; waits for /readyz. Sets SERVER_PID (stopped at exit).
# Not in $(...): SERVER_PIDS must be filled in this shell for cleanup.
start_tessera() {
  local port="$1" log="$2"; shift 2
  env "$@" TESSERA_LISTEN="127.0.0.1:$port" TOKIO_WORKER_THREADS=1 RUST_LOG=warn \
    taskset -c 0 "$BIN" serve 2>"$log" &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
  echo "bench: the server on port $port did not become ready" >&2; cat "$log" >&2; exit 1
}
# stop_tessera PID: stops one server started by start_tessera and waits for it.
stop_tessera() {
  local i
  kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true
  for i in "${!SERVER_PIDS[@]}"; do [ "${SERVER_PIDS[$i]}" != "$1" ] || unset 'SERVER_PIDS[i]'; done
}

cookie_value() { sed -n "s/^set-cookie: $1=\([^;]*\).*/\1/ip" | head -1; }
session_login() { curl -sf -D - -o /dev/null "$BASE/v1/session/login" -H 'content-type: application/json' -d "$CREDS" | cookie_value tessera_session; }
token_login() { curl -sf "$BASE/v1/token/login" -H 'content-type: application/json' -d "$CREDS" | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])'; }
hybrid_login() { curl -sf -D - -o /dev/null "$BASE/v1/hybrid/login" -H 'content-type: application/json' -d "$CREDS" | cookie_value tessera_at; }

to_ms() { python3 -c 'import sys,re; v=sys.argv[1]; n,u=re.match(r"([\d.]+)(\w+)",v).groups(); print(round(float(n)*{"us":0.001,"ms":1,"s":1000}[u],3))' "$1"; }
# wrk_row NAME WRK-OUTPUT → "NAME req/s p50_ms p99_ms"; fails on non-2xx answers.
wrk_row() {
  if echo "$2" | grep -q 'Non-2xx'; then echo "bench: $1 got non-2xx answers" >&2; echo "$2" >&2; exit 1; fi
  echo "$1 $(echo "$2" | awk '/^Requests\/sec/ {print $2}') $(to_ms "$(echo "$2" | awk '$1=="50%" {print $2}')") $(to_ms "$(echo "$2" | awk '$1=="99%" {print $2}')")"
}
