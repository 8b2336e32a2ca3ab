#!/usr/bin/env bash
# Measures authenticated `GET /v1/session` (session cookie, SQLite store)
# against `/healthz` of the same server in the same run, with wrk.
#
# The server is pinned to CPU 0 with one tokio worker, wrk to CPU 1, so the
# figures are "one server core". Writes bench/results/session.{json,md}.
#
# Usage: bench/session.sh [duration-seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }

cargo build --release -q -p tessera
BIN="$PWD/target/release/tessera"
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

export TESSERA_STORE="sqlite://$WORK/bench.db" TESSERA_LISTEN="127.0.0.1:$PORT" TESSERA_INSECURE_COOKIES=1
TOKIO_WORKER_THREADS=1 RUST_LOG=warn taskset -c 0 "$BIN" serve 2>"$WORK/server.log" &
PID=$!
for _ in $(seq 50); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done

curl -sf -X POST "$BASE/v1/users" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench password 123"}' >/dev/null
SECRET="$(curl -sf -D - -o /dev/null -X POST "$BASE/v1/session/login" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench password 123"}' | sed -n 's/^set-cookie: tessera_session=\([^;]*\).*/\1/ip')"
[ -n "$SECRET" ] || { echo "bench: login failed" >&2; exit 1; }
curl -sf "$BASE/v1/session" -H "Cookie: tessera_session=$SECRET" >/dev/null

# run NAME PATH [HEADER] → prints "NAME rps p50 p99" (latencies in ms)
run() {
  local name="$1" path="$2" out
  local args=(-t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency)
  [ $# -ge 3 ] && args+=(-H "$3")
  taskset -c 1 wrk "${args[@]}" "$BASE$path" >/dev/null 2>&1 || true   # warm-up pass is the first second
  out="$(taskset -c 1 wrk "${args[@]}" "$BASE$path")"
  if echo "$out" | grep -q 'Non-2xx'; then echo "bench: $name got non-2xx answers" >&2; echo "$out" >&2; exit 1; fi
  local rps p50 p99
  rps="$(echo "$out" | awk '/^Requests\/sec/ {print $2}')"
  p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
  p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
  echo "$name $rps $(to_ms "$p50") $(to_ms "$p99")"
}
to_ms() { python3 -c 'import sys,re; v=sys.argv[1]; n,u=re.match(r"([\d.]+)(\w+)",v).groups(); print(round(float(n)*{"us":0.001,"ms":1,"s":1000}[u],3))' "$1"; }

FLOOR="$(run healthz /healthz)"
SESSION="$(run session_sqlite /v1/session "Cookie: tessera_session=$SECRET")"

python3 - "$FLOOR" "$SESSION" "$DURATION" "$CONNECTIONS" <<'PY'
import json, sys, datetime, pathlib
rows = [r.split() for r in sys.argv[1:3]]
floor = float(rows[0][1])
out = []
for name, rps, p50, p99 in rows:
    out.append({"case": name, "req_per_s": float(rps), "p50_ms": float(p50), "p99_ms": float(p99),
                "ratio_to_healthz": round(float(rps) / floor, 3)})
meta = {"date": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
        "duration_s": int(sys.argv[3]), "connections": int(sys.argv[4]),
        "setup": "server pinned to CPU 0 (1 tokio worker), wrk -t1 pinned to CPU 1"}
res = pathlib.Path("bench/results"); res.mkdir(parents=True, exist_ok=True)
(res / "session.json").write_text(json.dumps({"meta": meta, "results": out}, indent=2) + "\n")
md = ["| case | req/s | p50 ms | p99 ms | × /healthz |", "|---|---:|---:|---:|---:|"]
md += [f"| {r['case']} | {r['req_per_s']:.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['ratio_to_healthz']} |" for r in out]
(res / "session.md").write_text(f"<!-- {meta['date']}: {meta['setup']}, {meta['connections']} connections, {meta['duration_s']} s -->\n" + "\n".join(md) + "\n")
print("\n".join(md))
PY
