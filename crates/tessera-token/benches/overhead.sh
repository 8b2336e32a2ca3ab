#!/usr/bin/env bash
# Runs the `verify` criterion bench of tessera-token and prints, per algorithm,
# raw signature verification vs full access-token verification (criterion's
# mean, read from target/criterion/verify_<alg>/{raw,token}/new/estimates.json)
# and the overhead token/raw - 1. Target (issue 3): at most 15% for EdDSA and
# ES256.
#
# Usage: crates/tessera-token/benches/overhead.sh [criterion args...]
#   e.g. overhead.sh --measurement-time 10    (default 3 s per function)
# Environment:
#   RUNS=3         run the bench 3 times and report, per column, the median
#                  over the runs (default 1). On a shared machine one burst of
#                  other work can shift a single run's figure by 10-20%.
#   TASKSET_CPU=1  pin cargo and the bench to CPU 1 with taskset.
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v python3 >/dev/null || { echo "overhead: python3 is missing" >&2; exit 1; }

RUNS="${RUNS:-1}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

PIN=()
[ -n "${TASKSET_CPU:-}" ] && PIN=(taskset -c "$TASKSET_CPU")
cargo bench -q -p tessera-token --bench verify --no-run

for run in $(seq "$RUNS"); do
  touch "$WORK/stamp"
  # Criterion's human-readable report goes to stderr; the table to stdout.
  "${PIN[@]}" cargo bench -q -p tessera-token --bench verify -- "$@" >&2
  # Collect this run's means (µs) as one JSON line; skip figures not
  # refreshed by this run (a filter argument leaves old ones behind).
  python3 - "$TARGET_DIR/criterion" "$WORK/stamp" >>"$WORK/runs.jsonl" <<'PY'
import json, os, sys

root, stamp = sys.argv[1], os.path.getmtime(sys.argv[2])
out = {}
for alg in ["EdDSA", "ES256", "RS256", "HS256"]:
    means = {}
    for fn in ["raw", "token"]:
        path = os.path.join(root, f"verify_{alg}", fn, "new", "estimates.json")
        if os.path.exists(path) and os.path.getmtime(path) >= stamp:
            with open(path) as f:
                means[fn] = json.load(f)["mean"]["point_estimate"] / 1000.0  # ns -> µs
    if len(means) == 2:
        out[alg] = means
print(json.dumps(out))
PY
done

python3 - "$WORK/runs.jsonl" <<'PY'
import json, statistics, sys

runs = [json.loads(line) for line in open(sys.argv[1])]
TARGET = {"EdDSA": 15.0, "ES256": 15.0}
print(f"{'alg':<6} | {'raw µs':>9} | {'token µs':>9} | {'overhead %':>10} | target")
print(f"{'-' * 6}-|-{'-' * 9}-|-{'-' * 9}-|-{'-' * 10}-|-------")
for alg in ["EdDSA", "ES256", "RS256", "HS256"]:
    seen = [r[alg] for r in runs if alg in r]
    if not seen:
        continue
    raw = statistics.median(m["raw"] for m in seen)
    token = statistics.median(m["token"] for m in seen)
    over = statistics.median((m["token"] / m["raw"] - 1.0) * 100.0 for m in seen)
    limit = TARGET.get(alg)
    verdict = "-" if limit is None else ("ok" if over <= limit else f"OVER {limit:g}%")
    print(f"{alg:<6} | {raw:>9.3f} | {token:>9.3f} | {over:>10.1f} | {verdict}")
if len(runs) > 1:
    print(f"(median of {len(runs)} runs; overhead is the median of the per-run ratios)")
PY
