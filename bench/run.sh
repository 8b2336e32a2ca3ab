#!/usr/bin/env bash
# Tessera's HTTP benchmark: every case against one server, in one run, beside
# the server's own HTTP floor (`/healthz`).
#
# The server runs on SQLite, pinned to CPU 0 with one tokio worker; wrk runs
# pinned to CPU 1. So every figure is "one server core", and each ratio
# compares cases measured minutes apart on the same machine.
#
# Cases: /healthz (the floor); GET /v1/session with a session cookie;
# /v1/verify with a session cookie, an EdDSA bearer token (the same token
# repeated) and the hybrid access-token cookie.
#
# Usage: bench/run.sh [seconds-per-case] [connections]
# Writes bench/results/run.json and bench/results/run.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
source bench/lib.sh
start_server 0
SESSION="$(session_login)"
BEARER="$(token_login)"
HYBRID="$(hybrid_login)"
[ -n "$SESSION" ] && [ -n "$BEARER" ] && [ -n "$HYBRID" ] || { echo "bench: logins failed" >&2; exit 1; }

# run NAME PATH [HEADER] → "NAME rps p50_ms p99_ms"
run() {
  local name="$1" path="$2"
  local args=(-t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency)
  [ $# -ge 3 ] && args+=(-H "$3")
  curl -sf -o /dev/null ${3:+-H "$3"} "$BASE$path" || { echo "bench: $name does not answer 200" >&2; exit 1; }
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s ${3:+-H "$3"} "$BASE$path" >/dev/null   # warm-up
  wrk_row "$name" "$(taskset -c 1 wrk "${args[@]}" "$BASE$path")"
}

ROWS=(
  "$(run healthz /healthz)"
  "$(run session_get /v1/session "Cookie: tessera_session=$SESSION")"
  "$(run verify_session /v1/verify "Cookie: tessera_session=$SESSION")"
  "$(run verify_bearer_eddsa /v1/verify "Authorization: Bearer $BEARER")"
  "$(run verify_hybrid /v1/verify "Cookie: tessera_at=$HYBRID")"
)

python3 - "$DURATION" "$CONNECTIONS" "${ROWS[@]}" <<'PY'
import json, sys, datetime, pathlib
duration, connections, rows = int(sys.argv[1]), int(sys.argv[2]), [r.split() for r in sys.argv[3:]]
floor = float(rows[0][1])
out = [{"case": n, "req_per_s": float(r), "p50_ms": float(a), "p99_ms": float(b),
        "ratio_to_healthz": round(float(r) / floor, 3)} for n, r, a, b in rows]
meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": duration, "connections": connections,
        "setup": "release build, SQLite store, server pinned to CPU 0 (1 tokio worker), wrk -t1 pinned to CPU 1"}
res = pathlib.Path("bench/results"); res.mkdir(parents=True, exist_ok=True)
(res / "run.json").write_text(json.dumps({"meta": meta, "results": out}, indent=2) + "\n")
md = ["| case | req/s | p50 ms | p99 ms | × /healthz |", "|---|---:|---:|---:|---:|"]
md += [f"| {r['case']} | {r['req_per_s']:.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['ratio_to_healthz']} |" for r in out]
(res / "run.md").write_text(f"<!-- {meta['date']}: {meta['setup']}, {connections} connections, {duration} s per case -->\n" + "\n".join(md) + "\n")
print("\n".join(md))
PY
