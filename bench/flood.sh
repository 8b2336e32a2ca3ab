#!/usr/bin/env bash
# Login-flood isolation: /v1/verify (EdDSA bearer, and session cookie)
# throughput and p99 unloaded, then again while 100 connections post bad
# passwords to /v1/session/login as fast as they can.
#
# Throttling is set out of reach here (TESSERA_LOGIN_MAX_FAILURES=1000000) so
# that every flood request really costs an Argon2id hash (m=19 MiB, t=2); in
# production the throttle would answer most of them with a cheap 429.
# Argon2 runs on the blocking pool (TESSERA_HASH_CONCURRENCY permits), never
# on the async worker that serves /v1/verify.
#
# Usage: bench/flood.sh [seconds] [hash-concurrency]
# Writes bench/results/flood.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
HASHES="${2:-1}"
export TESSERA_LOGIN_MAX_FAILURES=1000000 TESSERA_HASH_CONCURRENCY="$HASHES"
source bench/lib.sh
start_server
BEARER="$(token_login)"
SESSION="$(session_login)"

cat > "$WORK/bad-login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"username":"bench","password":"not the password"}'
wrk.headers["Content-Type"] = "application/json"
LUA

measure() { # NAME HEADER → "NAME rps p50 p99"
  wrk_row "$1" "$(wrk -t1 -c16 -d"${DURATION}s" --latency -H "$2" "$BASE/v1/verify")"
}

ROWS=("$(measure bearer_unloaded "Authorization: Bearer $BEARER")" "$(measure session_unloaded "Cookie: tessera_session=$SESSION")")
wrk -t1 -c100 -d"$((DURATION * 3))s" -s "$WORK/bad-login.lua" "$BASE/v1/session/login" >"$WORK/flood.txt" &
FLOOD=$!
sleep 2
ROWS+=("$(measure bearer_during_flood "Authorization: Bearer $BEARER")" "$(measure session_during_flood "Cookie: tessera_session=$SESSION")")
wait "$FLOOD" || true
FLOOD=""
LOGINS="$(awk '/^Requests\/sec/ {print $2}' "$WORK/flood.txt")"

python3 - "$DURATION" "$HASHES" "$LOGINS" "${ROWS[@]}" <<'PY'
import json, sys, datetime, pathlib
duration, hashes, logins = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
rows = {r.split()[0]: [float(x) for x in r.split()[1:]] for r in sys.argv[4:]}
out = []
for cred in ("bearer", "session"):
    u, f = rows[f"{cred}_unloaded"], rows[f"{cred}_during_flood"]
    out.append({"credential": cred, "unloaded_rps": u[0], "unloaded_p99_ms": u[2],
                "flood_rps": f[0], "flood_p99_ms": f[2],
                "p99_ratio": round(f[2] / u[2], 2), "rps_ratio": round(f[0] / u[0], 3)})
meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": duration, "hash_concurrency": hashes, "flood_logins_per_s": logins,
        "setup": "release build, SQLite, 1 tokio worker, unpinned on a 2-core machine; verify: wrk -c16; flood: wrk -c100 bad passwords"}
res = pathlib.Path("bench/results"); res.mkdir(parents=True, exist_ok=True)
(res / "flood.json").write_text(json.dumps({"meta": meta, "results": out}, indent=2) + "\n")
md = ["| /v1/verify with | unloaded req/s | unloaded p99 ms | during flood req/s | during flood p99 ms | p99 × | req/s × |",
      "|---|---:|---:|---:|---:|---:|---:|"]
md += [f"| {r['credential']} | {r['unloaded_rps']:.0f} | {r['unloaded_p99_ms']} | {r['flood_rps']:.0f} | {r['flood_p99_ms']} | {r['p99_ratio']} | {r['rps_ratio']} |" for r in out]
md.append(f"\nFlood: {logins:.1f} bad logins/s answered (Argon2id m=19456 t=2 p=1, {hashes} hashing permit(s)).")
(res / "flood.md").write_text(f"<!-- {meta['date']}: {meta['setup']} -->\n" + "\n".join(md) + "\n")
print("\n".join(md))
PY
