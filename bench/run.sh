#!/usr/bin/env bash
# Tessera's HTTP benchmark: every case in one run, beside the server's own HTTP
# floor (`/healthz`), then criterion's token-verification overhead.
#
# Every server runs pinned to CPU 0 with one tokio worker (Argon2 hashing
# threads included); wrk -t1 runs pinned to CPU 1. So every figure is "one
# server core", and each ratio compares cases measured minutes apart on the
# same machine. One server at a time is under load; the SQLite server of the
# floor stays up (idle) while the others are measured.
#
# Cases, in this order:
#   healthz                      the floor, on the SQLite server
#   verify_session_*             /v1/verify with a session cookie on the memory
#                                store, SQLite, and PostgreSQL + Redis
#   verify_bearer_<alg>_same     /v1/verify with one bearer token repeated, and
#   verify_bearer_<alg>_pool10k  with 10,000 distinct tokens in turn
#                                (bench/lua/bearer.lua), for EdDSA, ES256,
#                                RS256, HS256: one server per algorithm, each on
#                                a fresh SQLite file (a confidential client can
#                                only be registered with the CLI, which cannot
#                                reach a memory store); the tokens come from
#                                client_credentials, not password logins
#   verify_bearer_<alg>_uncached the pool again on the same keys with the
#                                verified-token cache off
#                                (TESSERA_TOKEN_CACHE_CAPACITY=0): every request
#                                checks its signature; compared with the raw
#                                signature rate criterion measures
#   verify_hybrid                /v1/verify with the hybrid access-token cookie
#   argon2_bound_<kind>          the hash pool alone (crates/tessera-core
#                                examples/hash_rate.rs), pinned to CPU 0: the
#                                verifications per second the logins can reach,
#                                measured just before and just after each login
#                                case and averaged
#   session_login, token_login   POST /v1/session/login, /v1/token/login
#                                (bench/lua/login.lua): Argon2id-bound, on
#                                TESSERA_HASH_CONCURRENCY hashing threads
#   refresh                      POST /oauth/token grant_type=refresh_token,
#                                each token used once and its successor put
#                                back (bench/lua/refresh.lua), seeded from
#                                token logins made before the run
#   healthz_end                  the floor again: the drift check
#   flood_*                      /v1/verify (EdDSA bearer, session cookie) on a
#                                server with throttling out of reach, unloaded
#                                and then while 100 connections post bad
#                                passwords to /v1/session/login (every one an
#                                Argon2id hash); flood_logins is their rate.
#                                FLOOD_ROUNDS (default 3) alternating rounds,
#                                ratios as medians over the rounds
# Each GET case gets a 2 s warm-up with the same requests (so a pool's tokens
# are all in the verified-token cache when measuring); the POST cases none.
# Each case is first checked once with curl; a non-2xx answer, there or in wrk,
# or a wrk socket error stops the run (non-zero).
#
# Needs wrk, python3, psql and redis-cli; PostgreSQL and Redis from
# TESSERA_TEST_POSTGRES_URL and TESSERA_TEST_REDIS_URL (default the local
# ones): a fresh database and a fresh Redis key prefix, removed at exit.
#
# Usage: bench/run.sh [seconds-per-case=10] [connections=32]
# Environment:
#   TESSERA_HASH_CONCURRENCY=1   hashing threads of the servers (default 1)
#   SKIP_CRITERION=1             skip crates/tessera-token/benches/overhead.sh
#   TASKSET_CPU=0                CPU that criterion is pinned to (default 0, the
#                                servers' core; all servers are stopped by then)
# Writes bench/results/run.json and bench/results/run.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
POOL=10000
REFRESH_SEED=$((CONNECTIONS * 2 > 64 ? CONNECTIONS * 2 : 64))
# The refresh pool is REFRESH_SEED token logins of one user: all must stay
# live under the login cap (default 100; past it the oldest logins end).
export TESSERA_MAX_LOGINS_PER_USER=$((REFRESH_SEED >= 100 ? REFRESH_SEED + 1 : 100))
export TESSERA_HASH_CONCURRENCY="${TESSERA_HASH_CONCURRENCY:-1}"
for tool in python3 psql redis-cli taskset; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
source bench/lib.sh
cargo build --release -q -p tessera-core --example hash_rate
HASH_RATE="$PWD/target/release/examples/hash_rate"

PG_ADMIN="${TESSERA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${TESSERA_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
RUN_ID="$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
DB="tessera_bench_$RUN_ID"
PREFIX="bench-$RUN_ID"
DB_CREATED=""

# server_logs N: the last N lines each server logged (RUST_LOG=warn: warnings
# and errors only), to stderr.
server_logs() {
  local log
  for log in "$WORK"/*server.log; do
    [ -s "$log" ] || continue
    echo "bench: $(basename "$log" .server.log) logged:" >&2
    tail -n "$1" "$log" >&2
  done
}

run_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ "$rc" = 0 ] || server_logs 20
  cleanup   # every server (bench/lib.sh), then the temp dir
  if [ -n "$DB_CREATED" ]; then
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
  fi
  redis-cli -u "$REDIS_URL" --scan --pattern "*$PREFIX*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null || true
  [ "$rc" = 0 ] || echo "bench: failed (exit $rc); every server stopped" >&2
  exit "$rc"
}
trap run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { echo "bench: $*" >&2; exit 1; }

# check NAME CURL-ARGS...: the case's request once with curl; it must answer 2xx.
check() {
  local name="$1" code
  shift
  code="$(curl -s -o "$WORK/check.out" -w '%{http_code}' "$@")" || true
  case "$code" in
    2??) ;;
    *) fail "$name answers HTTP $code: $(head -c 300 "$WORK/check.out")" ;;
  esac
}

# bench_case NAME SERVER WARM WRK-ARGS...: wrk -t1 on CPU 1 for DURATION s
# (after a 2 s warm-up with the same arguments when WARM=1), appended to ROWS
# as "NAME req/s p50_ms p99_ms SERVER". Fails on non-2xx answers (wrk_row) and
# on socket errors (connect, read, write, timeout).
ROWS=()
bench_case() {
  local name="$1" server="$2" warm="$3" out row
  shift 3
  if [ "$warm" = 1 ]; then taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s "$@" >/dev/null; fi
  out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")"
  if grep -q '^ *Socket errors' <<<"$out"; then echo "$out" >&2; fail "$name: wrk saw socket errors"; fi
  row="$(wrk_row "$name" "$out")"
  ROWS+=("$row $server")
  echo "bench: $row ($server)" >&2
}

# verify_case NAME SERVER BASE HEADER: GET BASE/v1/verify with HEADER.
verify_case() {
  check "$1" -H "$4" "$3/v1/verify"
  bench_case "$1" "$2" 1 -H "$4" "$3/v1/verify"
}

# fetch_tokens MODE BASE N FILE ARG1 ARG2: N distinct tokens into FILE, one
# per line, over one keep-alive connection (from CPU 1).
#   client_credentials CLIENT SECRET: access tokens of a confidential client
#   login USERNAME PASSWORD: refresh tokens of first-party token logins
fetch_tokens() {
  taskset -c 1 python3 - "$@" <<'PY'
import base64, http.client, json, sys
mode, base, n, out, a, b = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
host, port = base.split("//", 1)[1].rsplit(":", 1)
if mode == "client_credentials":
    path, body, field = "/oauth/token", "grant_type=client_credentials", "access_token"
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Authorization": "Basic " + base64.b64encode(f"{a}:{b}".encode()).decode()}
else:
    path, body, field = "/v1/token/login", json.dumps({"username": a, "password": b}), "refresh_token"
    headers = {"Content-Type": "application/json"}
conn = http.client.HTTPConnection(host, int(port), timeout=30)
tokens = []
for _ in range(n):
    conn.request("POST", path, body, headers)
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit(f"bench: {mode} at {path} answered HTTP {r.status}: {data[:300].decode(errors='replace')}")
    tokens.append(json.loads(data)[field])
if len(set(tokens)) != n:
    sys.exit(f"bench: {mode} gave {n - len(set(tokens))} duplicate tokens")
with open(out, "w") as f:
    f.write("\n".join(tokens) + "\n")
PY
}

echo "bench: ${DURATION} s per case, $CONNECTIONS connections, TESSERA_HASH_CONCURRENCY=$TESSERA_HASH_CONCURRENCY" >&2

# 1. The SQLite server (bench/lib.sh's), up to the end: the floor.
start_server 0
MAIN="$BASE"
check healthz "$MAIN/healthz"
bench_case healthz sqlite 1 "$MAIN/healthz"

# 2. Session cookies on the three stores.
port="$(free_port)"
start_tessera "$port" "$WORK/memory.server.log" TESSERA_STORE=memory
MEM="http://127.0.0.1:$port"
check register -H 'content-type: application/json' -d "$CREDS" "$MEM/v1/users"
SESSION="$(BASE="$MEM" session_login)"
[ -n "$SESSION" ] || fail "session login on the memory store failed"
verify_case verify_session_memory memory "$MEM" "Cookie: tessera_session=$SESSION"
stop_tessera "$SERVER_PID"

SESSION="$(session_login)"
[ -n "$SESSION" ] || fail "session login on SQLite failed"
verify_case verify_session_sqlite sqlite "$MAIN" "Cookie: tessera_session=$SESSION"

psql -q "$PG_ADMIN" -c "CREATE DATABASE $DB" >/dev/null
DB_CREATED=1
PG_ENV=(TESSERA_STORE="${PG_ADMIN%/*}/$DB" TESSERA_REDIS_URL="$REDIS_URL" TESSERA_REDIS_PREFIX="$PREFIX"
  TESSERA_MASTER_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')")
printf '%s' "$PW" | env "${PG_ENV[@]}" "$BIN" user add bench --password-stdin >/dev/null
port="$(free_port)"
start_tessera "$port" "$WORK/postgres.server.log" "${PG_ENV[@]}"
PG="http://127.0.0.1:$port"
SESSION="$(BASE="$PG" session_login)"
[ -n "$SESSION" ] || fail "session login on PostgreSQL + Redis failed"
verify_case verify_session_pg_redis postgres+redis "$PG" "Cookie: tessera_session=$SESSION"
stop_tessera "$SERVER_PID"

# 3. Bearer tokens, one server per signing algorithm.
for ALG in EdDSA ES256 RS256 HS256; do
  alg="${ALG,,}"
  ALG_ENV=(TESSERA_STORE="sqlite://$WORK/$alg.db" TESSERA_SIGNING_ALG="$ALG")
  SECRET="$(env "${ALG_ENV[@]}" "$BIN" client add bench-service --confidential --scope read 2>>"$WORK/cli.log")" ||
    { cat "$WORK/cli.log" >&2; fail "client add ($ALG) failed"; }
  port="$(free_port)"
  start_tessera "$port" "$WORK/$alg.server.log" "${ALG_ENV[@]}"
  URL="http://127.0.0.1:$port"
  fetch_tokens client_credentials "$URL" "$POOL" "$WORK/$alg.pool" bench-service "$SECRET"
  head -1 "$WORK/$alg.pool" >"$WORK/$alg.one"
  check "verify_bearer_${alg} (first token)" -H "Authorization: Bearer $(head -1 "$WORK/$alg.pool")" "$URL/v1/verify"
  check "verify_bearer_${alg} (last token)" -H "Authorization: Bearer $(tail -1 "$WORK/$alg.pool")" "$URL/v1/verify"
  bench_case "verify_bearer_${alg}_same" sqlite 1 -s bench/lua/bearer.lua "$URL/v1/verify" -- "$WORK/$alg.one"
  bench_case "verify_bearer_${alg}_pool10k" sqlite 1 -s bench/lua/bearer.lua "$URL/v1/verify" -- "$WORK/$alg.pool"
  stop_tessera "$SERVER_PID"
  # The same keys and tokens (the file keeps them), nothing remembered.
  start_tessera "$port" "$WORK/$alg-uncached.server.log" "${ALG_ENV[@]}" TESSERA_TOKEN_CACHE_CAPACITY=0
  check "verify_bearer_${alg}_uncached" -H "Authorization: Bearer $(head -1 "$WORK/$alg.pool")" "$URL/v1/verify"
  bench_case "verify_bearer_${alg}_uncached" sqlite 1 -s bench/lua/bearer.lua "$URL/v1/verify" -- "$WORK/$alg.pool"
  stop_tessera "$SERVER_PID"
done

# 4. The hybrid cookie, logins and refresh, on the SQLite server.
HYBRID="$(hybrid_login)"
[ -n "$HYBRID" ] || fail "hybrid login failed"
verify_case verify_hybrid sqlite "$MAIN" "Cookie: tessera_at=$HYBRID"

# Each login case is bracketed by the Argon2 bound: the hash pool alone on
# CPU 0 while the server idles, just before and just after, averaged (this
# VM's CPU speed drifts by 10% from one minute to the next).
argon2_bound() { taskset -c 0 "$HASH_RATE" "$TESSERA_HASH_CONCURRENCY" "$DURATION"; }
for kind in session token; do
  check "${kind}_login" -H 'content-type: application/json' -d "$CREDS" "$MAIN/v1/$kind/login"
  before="$(argon2_bound)"
  bench_case "${kind}_login" sqlite 0 --timeout 30s -s bench/lua/login.lua "$MAIN/v1/$kind/login" -- bench "$PW"
  after="$(argon2_bound)"
  rate="$(python3 -c "print(round(($before + $after) / 2, 1))")"
  ROWS+=("argon2_bound_${kind} $rate 0 0 hash_pool")
  echo "bench: argon2_bound_${kind} $rate verifications/s (before $before, after $after; $TESSERA_HASH_CONCURRENCY thread(s), CPU 0)" >&2
done

fetch_tokens login "$MAIN" "$REFRESH_SEED" "$WORK/refresh.pool" bench "$PW"
# The curl check spends the last seed token and puts its successor back.
check refresh -d grant_type=refresh_token -d "refresh_token=$(tail -1 "$WORK/refresh.pool")" "$MAIN/oauth/token"
sed -i '$d' "$WORK/refresh.pool"
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["refresh_token"])' "$WORK/check.out" >>"$WORK/refresh.pool"
bench_case refresh sqlite 0 -s bench/lua/refresh.lua "$MAIN/oauth/token" -- "$WORK/refresh.pool"

bench_case healthz_end sqlite 1 "$MAIN/healthz"
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

# 5. Isolation: /v1/verify beside a login flood, on a server whose throttle
# is out of reach, so that every bad password really costs a hash.
port="$(free_port)"
start_tessera "$port" "$WORK/flood.server.log" TESSERA_LOGIN_MAX_FAILURES=1000000
FLOODED="http://127.0.0.1:$port"
BEARER="$(BASE="$FLOODED" token_login)"
SESSION="$(BASE="$FLOODED" session_login)"
[ -n "$BEARER" ] && [ -n "$SESSION" ] || fail "logins on the flood server failed"
cat >"$WORK/bad-login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"username":"bench","password":"not the password"}'
wrk.headers["Content-Type"] = "application/json"
LUA
flood_cases() { # SUFFIX
  verify_case "flood_bearer_$1" sqlite "$FLOODED" "Authorization: Bearer $BEARER"
  verify_case "flood_session_$1" sqlite "$FLOODED" "Cookie: tessera_session=$SESSION"
}
# FLOOD_ROUNDS alternating rounds (unloaded, then during a flood): a p99
# under a millisecond moves with every hiccup of this VM, so the ratios are
# medians over the rounds.
for round in $(seq "${FLOOD_ROUNDS:-3}"); do
  flood_cases "unloaded_$round"
  taskset -c 1 wrk -t1 -c100 -d"$((DURATION * 2 + 8))s" --timeout 30s -s "$WORK/bad-login.lua" \
    "$FLOODED/v1/session/login" >"$WORK/flood.txt" &
  FLOOD=$!
  sleep 3   # the flood's queue fills
  flood_cases "during_$round"
  wait "$FLOOD" || true; FLOOD=
  grep -q "Non-2xx or 3xx responses" "$WORK/flood.txt" || fail "the flood's bad logins were not refused"
  ROWS+=("flood_logins_$round $(awk '/^Requests\/sec/ {print $2}' "$WORK/flood.txt") 0 0 sqlite")
  sleep 3   # hashes still queued when the flood's clients left
done
stop_tessera "$SERVER_PID"
server_logs 50

# 5. Criterion: full token verification against the raw signature.
CRITERION=""
if [ "${SKIP_CRITERION:-0}" != 1 ]; then
  echo "bench: criterion (crates/tessera-token/benches/overhead.sh, pinned to CPU ${TASKSET_CPU:-0})" >&2
  CRITERION="$(TASKSET_CPU="${TASKSET_CPU:-0}" crates/tessera-token/benches/overhead.sh 2>"$WORK/criterion.log")" ||
    { tail -40 "$WORK/criterion.log" >&2; fail "overhead.sh failed"; }
fi

python3 - "$DURATION" "$CONNECTIONS" "$TESSERA_HASH_CONCURRENCY" "$POOL" "$REFRESH_SEED" "$SECONDS" "$CRITERION" "${ROWS[@]}" <<'PY'
import json, sys, datetime, pathlib
duration, connections, hashes, pool, seed, elapsed = map(int, sys.argv[1:7])
criterion_text, rows = sys.argv[7], [r.split() for r in sys.argv[8:]]
floor = float(rows[0][1])
by_name = {r[0]: r for r in rows}
out = [{"case": n, "server": s, "req_per_s": float(r), "p50_ms": float(a), "p99_ms": float(b),
        "ratio_to_healthz": round(float(r) / floor, 3)} for n, r, a, b, s in rows]
criterion = None
if criterion_text:
    criterion = []
    for line in criterion_text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 5 and cells[0] in ("EdDSA", "ES256", "RS256", "HS256"):
            criterion.append({"alg": cells[0], "raw_us": float(cells[1]), "token_us": float(cells[2]),
                              "overhead_pct": float(cells[3]), "target": cells[4]})
    if not criterion:
        sys.exit("bench: no table in overhead.sh's output:\n" + criterion_text)
from statistics import median
rounds = sorted({n.rsplit("_", 1)[1] for n in by_name if n.startswith("flood_logins_")}, key=int)
rps = lambda name: float(by_name[name][1])
p99 = lambda name: float(by_name[name][3])
derived = {
    "logins_to_argon2_bound": {k: round(rps(f"{k}_login") / rps(f"argon2_bound_{k}"), 3) for k in ("session", "token")},
    "flood": {c: {"p99_ratio": round(median([p99(f"flood_{c}_during_{i}") / p99(f"flood_{c}_unloaded_{i}") for i in rounds]), 2),
                  "rps_ratio": round(median([rps(f"flood_{c}_during_{i}") / rps(f"flood_{c}_unloaded_{i}") for i in rounds]), 3),
                  "p99_ratio_per_round": [round(p99(f"flood_{c}_during_{i}") / p99(f"flood_{c}_unloaded_{i}"), 2) for i in rounds]}
              for c in ("bearer", "session")},
    "flood_logins_per_s": median([rps(f"flood_logins_{i}") for i in rounds]),
}
if criterion is not None:
    derived["uncached_to_raw_signature_rate"] = {
        c["alg"]: round(rps(f"verify_bearer_{c['alg'].lower()}_uncached") / (1e6 / c["raw_us"]), 3) for c in criterion}
meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": duration, "connections": connections, "hash_concurrency": hashes,
        "bearer_pool_tokens": pool, "refresh_seed_tokens": seed, "elapsed_s": elapsed,
        "setup": "release build; each server pinned to CPU 0 (1 tokio worker), wrk -t1 pinned to CPU 1; "
                 "2 s warm-up for GET cases; servers: sqlite (the floor's, also hybrid, logins, refresh), "
                 "memory, postgres+redis (fresh database and key prefix), one fresh SQLite server per "
                 "signing algorithm for the bearer cases (restarted with TESSERA_TOKEN_CACHE_CAPACITY=0 for "
                 "the uncached case), and a SQLite server with throttling out of reach for the flood"}
res = pathlib.Path("bench/results"); res.mkdir(parents=True, exist_ok=True)
(res / "run.json").write_text(json.dumps({"meta": meta, "results": out, "criterion": criterion,
                                          "derived": derived}, indent=2) + "\n")
md = ["| case | server | req/s | p50 ms | p99 ms | × /healthz |", "|---|---|---:|---:|---:|---:|"]
md += [f"| {r['case']} | {r['server']} | {r['req_per_s']:.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['ratio_to_healthz']} |"
       for r in out if r["server"] != "hash_pool" and not r["case"].startswith("flood_logins")]
md += ["", "| derived | value |", "|---|---|"]
md += [f"| {k} login ÷ Argon2 bound ({rps(f'argon2_bound_{k}'):.1f}/s around it) | {v} |"
       for k, v in derived["logins_to_argon2_bound"].items()]
md += [f"| flood: {c} verify p99 ×, req/s × (vs unloaded; medians of {len(rounds)} rounds, p99 × per round {v['p99_ratio_per_round']}) | {v['p99_ratio']}, {v['rps_ratio']} |"
       for c, v in derived["flood"].items()]
md.append(f"| flood: bad logins answered per second | {derived['flood_logins_per_s']} |")
md += [f"| {a} uncached verify ÷ raw signature rate (1/criterion raw) | {v} |"
       for a, v in derived.get("uncached_to_raw_signature_rate", {}).items()]
md.append(f"\nLogins: Argon2id (m=19456 t=2 p=1) on TESSERA_HASH_CONCURRENCY={hashes} hashing thread(s). "
          f"Bearer pools: {pool} distinct client_credentials tokens. Refresh: {seed} seed tokens, each used once.")
if criterion is not None:
    md += ["", "Criterion (crates/tessera-token/benches/overhead.sh): full access-token verification against the raw signature check.", "",
           "| alg | raw signature µs | full verification µs | overhead % | target |", "|---|---:|---:|---:|---|"]
    md += [f"| {c['alg']} | {c['raw_us']} | {c['token_us']} | {c['overhead_pct']} | {c['target']} |" for c in criterion]
else:
    md.append("\nCriterion: skipped (SKIP_CRITERION=1).")
header = (f"<!-- {meta['date']}: {meta['setup']}; {connections} connections, {duration} s per case; "
          f"run took {elapsed} s -->\n")
(res / "run.md").write_text(header + "\n".join(md) + "\n")
print("\n".join(md))
PY
