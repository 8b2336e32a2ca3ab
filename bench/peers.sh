#!/usr/bin/env bash
# Tessera beside the peer stacks (express + express-session + jose, axum +
# tower-sessions + jsonwebtoken), in one invocation of the peers' run.sh, so
# the ratios between them mean something (see the peers' README.md).
#
# Six servers, all pinned to CPU 0 (wrk runs on CPU 1, run.sh pins it):
#   tessera        memory store, 1 tokio worker (the Rust peer's default)
#   tessera-redis  the same, sessions in the peers' private Redis
#   rust, rust-redis, node, node-redis   as start-peers.sh --redis starts them
# Tessera comes first, so run.sh's `× tessera` column is each peer against it.
#
# Usage: [ROUNDS=3] bench/peers.sh
#   PEERS=/work/shared/peers   where the peers live (read-only: copied to a temp dir)
#   KEEP_RAW=1                 keep the temp dir (raw wrk output, setup answers, logs)
#   Other run.sh settings (DURATION, CONNECTIONS, SCENARIOS, ...) pass through the environment.
# Writes bench/results/peers.md (run.sh's table) and bench/results/peers-checks.txt,
# then bench/results/peers-targets.md (the issue's target checks) with bench/peers_targets.py.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-3}"
PEERS_SRC="${PEERS:-/work/shared/peers}"
[ -x "$PEERS_SRC/run.sh" ] || { echo "bench: no peers in $PEERS_SRC (set PEERS=)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "bench: redis-server is missing (apt-get install redis-server)" >&2; exit 1; }

# The peers' folder is read-only and start-peers.sh keeps its state in .run/
# next to itself, so it runs from a private copy (which also keeps the builds
# of concurrent invocations apart).
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-peers.XXXXXX")"
PEERS_DIR="$WORK/peers"
TESSERA_PIDS=()
RUN_PID=""

# Stop exactly what this script started, by PID, whatever way it ends: run.sh
# (its own process group, so its wrk goes with it), the two Tessera servers,
# then the peers and their Redis through stop-peers.sh (which reads .run/peers.env).
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
    kill -TERM -- "-$RUN_PID" 2>/dev/null || true
  fi
  for pid in "${TESSERA_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  [ -f "$PEERS_DIR/.run/peers.env" ] && "$PEERS_DIR/stop-peers.sh" >&2 || true
  # Tessera drains and exits on SIGTERM; give it 10 s, then SIGKILL.
  for pid in "${TESSERA_PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "bench: tessera pid $pid still running after 10 s: SIGKILL" >&2; kill -KILL "$pid" 2>/dev/null || true; }
  done
  wait 2>/dev/null || true
  if [ "${KEEP_RAW:-0}" = 1 ]; then echo "bench: kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
# A signal ends the script through the EXIT trap (bash would not run it on SIGTERM by itself).
trap 'exit 130' INT
trap 'exit 143' TERM

BEGIN="$(date +%s)"
cp -r "$PEERS_SRC" "$PEERS_DIR"
chmod -R u+w "$PEERS_DIR"
rm -rf "$PEERS_DIR/.run" "$PEERS_DIR/results"

# ---------------------------------------------------------------- peers + Redis
# Builds (npm ci, cargo build --release of the Rust peer) and starts node, rust,
# a private redis-server and node-redis, rust-redis on it, all pinned to CPU 0.
"$PEERS_DIR/start-peers.sh" --redis >&2
STATE="$PEERS_DIR/.run/peers.env"
peer() { awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$STATE"; }
REDIS_URL="$(peer redis 2)"
REDIS_PID="$(peer redis 3)"
[ -n "$REDIS_URL" ] && [ -n "$REDIS_PID" ] || { echo "bench: start-peers.sh started no Redis" >&2; exit 1; }

# ---------------------------------------------------------------- Tessera
# Same CPU as the Rust peer: CPU 0 and one tokio worker. Memory store (no master
# key needed); the default __Host- cookie (run.sh reads Set-Cookie itself).
cargo build --release -q -p tessera
BIN="$PWD/target/release/tessera"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_tessera NAME [VAR=VALUE...] → prints the URL once /healthz answers
start_tessera() {
  local name="$1" port pid
  shift
  port="$(free_port)"
  env -u TESSERA_INSECURE_COOKIES -u TESSERA_REDIS_URL -u TESSERA_CONFIG \
    TESSERA_STORE=memory TESSERA_LISTEN="127.0.0.1:$port" TOKIO_WORKER_THREADS=1 RUST_LOG=warn "$@" \
    taskset -c 0 "$BIN" serve >"$WORK/$name.log" 2>&1 &
  pid=$!
  TESSERA_PIDS+=("$pid")
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && { echo "http://127.0.0.1:$port"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: $name did not start" >&2; cat "$WORK/$name.log" >&2; return 1
}
# Not in $(...): TESSERA_PIDS must be filled in this shell for cleanup.
start_tessera tessera >"$WORK/url.tessera"
start_tessera tessera-redis TESSERA_REDIS_URL="$REDIS_URL" TESSERA_REDIS_PREFIX=peerbench >"$WORK/url.tessera-redis"

SERVERS=(
  "tessera=$(cat "$WORK/url.tessera")"
  "tessera-redis=$(cat "$WORK/url.tessera-redis")"
  "rust=$(peer rust 2)" "rust-redis=$(peer rust-redis 2)"
  "node=$(peer node 2)" "node-redis=$(peer node-redis 2)"
)
echo "bench: ${SERVERS[*]} (redis $REDIS_URL pid $REDIS_PID)" >&2

# ---------------------------------------------------------------- measure
# EXTRA_PIDS: the Redis both *-redis variants share; its CPU is shown apart
# instead of counting as disturbance. setsid: run.sh gets its own process group,
# so cleanup can stop it together with the wrk it is running.
OUT="$WORK/out"
START="$(date -u +%FT%TZ)"
# The command as run, with the run.sh settings that were overridden, for the results' header.
CMD="ROUNDS=$ROUNDS"
for v in DURATION CONNECTIONS LOGIN_DURATION LOGIN_CONNECTIONS WARMUP SCENARIOS QUIET_MAX MAX_OTHER_CPU RETRIES WRK_CPU; do
  if [ -n "${!v+set}" ]; then CMD+=" $v=\"${!v}\""; fi
done
CMD+=" bench/peers.sh"
T0="$(date +%s)"
ROUNDS="$ROUNDS" OUT="$OUT" EXTRA_PIDS="$REDIS_PID" setsid "$PEERS_DIR/run.sh" "${SERVERS[@]}" </dev/null &
RUN_PID=$!
wait "$RUN_PID"
RUN_PID=""
MINUTES="$(( ($(date +%s) - T0 + 30) / 60 ))"

# ---------------------------------------------------------------- results
mkdir -p bench/results
{
  echo "<!--"
  echo "$START: $CMD ($MINUTES min of measuring, $(( ($(date +%s) - BEGIN + 30) / 60 )) min in all with the builds)"
  echo "tessera $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo ' (+ uncommitted changes)'), release build, TESSERA_STORE=memory, TOKIO_WORKER_THREADS=1, taskset -c 0;"
  echo "tessera-redis: the same + TESSERA_REDIS_URL=$REDIS_URL (the peers' private redis-server, pid $REDIS_PID, core 0), TESSERA_REDIS_PREFIX=peerbench."
  echo "peers: $PEERS_SRC, start-peers.sh --redis (pinned to core 0, Rust peer 1 tokio worker, Node one process); run.sh with EXTRA_PIDS=<redis pid>, wrk on core 1."
  cat "$OUT/header.txt"
  echo "-->"
  cat "$OUT/table.md"
} > bench/results/peers.md
{
  echo "# $START: $CMD — run.sh's checks (setup, then every round's logins)"
  cat "$OUT/checks.txt"
} > bench/results/peers-checks.txt
echo "bench: wrote bench/results/peers.md and bench/results/peers-checks.txt" >&2
python3 bench/peers_targets.py
