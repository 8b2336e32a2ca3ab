#!/usr/bin/env python3
"""Target checks of the performance issue, from the peer comparison's table.

Reads bench/results/peers.md (the table ../shared/peers/run.sh prints, as
bench/peers.sh writes it, with its HTML comment header) and writes
bench/results/peers-targets.md:

  /v1/verify: Tessera's `× own /healthz` ≥ 1.15× the Rust peer's (sessions in
  memory: tessera / rust), ≥ 2× (sessions in Redis: tessera-redis / rust-redis),
  ≥ 4× (the repeated bearer token, both stores);
  req/s: Tessera ≥ 5× the Node peer on every row (healthz, verify-session,
  verify-bearer, login; tessera / node and tessera-redis / node-redis).

Ratios are recomputed from the table's req/s medians (its `× own /healthz`
column is rounded to 2 decimals). Prints "N of M targets met" on stdout.

Usage: python3 bench/peers_targets.py [peers.md] [out.md]
       (defaults: bench/results/peers.md bench/results/peers-targets.md)
Standard library only.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_IN = os.path.join(ROOT, "bench", "results", "peers.md")
DEFAULT_OUT = os.path.join(ROOT, "bench", "results", "peers-targets.md")

STORES = [("memory", ""), ("Redis", "-redis")]  # label, server-name suffix
# /v1/verify: (scenario, store label, target) on Tessera / Rust of `× own /healthz`
VERIFY_TARGETS = [
    ("verify-session", "memory", 1.15),
    ("verify-session", "Redis", 2.0),
    ("verify-bearer", "memory", 4.0),
    ("verify-bearer", "Redis", 4.0),
]
NODE_SCENARIOS = ["healthz", "verify-session", "verify-bearer", "login"]
NODE_TARGET = 5.0
MARGIN = 0.05  # a met target within 5 % of its line gets a note


def die(msg):
    print(f"peers_targets: {msg}", file=sys.stderr)
    sys.exit(1)


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(text):
    """(header lines of the leading HTML comment, rows by (server, scenario), footer text)."""
    header = []
    m = re.match(r"\s*<!--(.*?)-->", text, re.S)
    if m:
        header = [l.strip() for l in m.group(1).strip().splitlines()]
        text = text[m.end():]
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines)
                  if l.startswith("|") and "server" in cells(l) and "req/s" in cells(l)), None)
    if start is None:
        die("no table with `server` and `req/s` columns")
    cols = cells(lines[start])
    for need in ("server", "scenario", "req/s"):
        if need not in cols:
            die(f"the table has no `{need}` column")
    rows = {}
    i = start + 2  # after the |---| line
    while i < len(lines) and lines[i].startswith("|"):
        c = cells(lines[i])
        if len(c) != len(cols):
            die(f"row with {len(c)} cells, header has {len(cols)}: {lines[i]}")
        r = dict(zip(cols, c))
        try:
            r["rps"] = float(r["req/s"].replace(",", ""))
        except ValueError:
            die(f"req/s not a number: {lines[i]}")
        rows[(r["server"], r["scenario"])] = r
        i += 1
    footer = "\n".join(lines[i:]).strip()
    return header, rows, footer


def run_info(header, footer):
    """What the header says about the run: date, command, commit, rounds."""
    info = {}
    for l in header:
        m = re.match(r"(\S+): (.+?) \(\d+ min of measuring", l)
        if m and "date" not in info:
            info["date"], info["cmd"] = m.group(1), m.group(2)
        m = re.match(r"tessera ([0-9a-f]{4,40})( \(\+ uncommitted changes\))?,", l)
        if m:
            info["commit"] = m.group(1) + (" + uncommitted changes" if m.group(2) else "")
        m = re.match(r"# run\.sh (\S+)", l)
        if m:
            info.setdefault("date", m.group(1))
    m = re.search(r"Medians of (\d+) round", footer)
    info["rounds"] = int(m.group(1)) if m else (1 if "One round." in footer else None)
    return info


def fmt_rps(x):
    return f"{x:,.0f}"


def fmt_x(x, target=None):
    """2 decimals, more when those would put a value on the wrong side of its target."""
    s = f"{x:.2f}"
    if target is not None and (x >= target) != (float(s) >= target):
        s = f"{x:.4f}"
    return s


def fmt_target(t):
    return f"{t:g}"


def pct(x):
    return f"{100 * x:.0f} %"


def main():
    args = sys.argv[1:]
    if len(args) > 2 or any(a in ("-h", "--help") for a in args):
        ok = len(args) == 1
        print(__doc__.strip(), file=sys.stdout if ok else sys.stderr)
        sys.exit(0 if ok else 2)
    src = args[0] if len(args) > 0 else DEFAULT_IN
    dst = args[1] if len(args) > 1 else DEFAULT_OUT
    try:
        with open(src, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        die(f"cannot read {src}: {e}")
    header, rows, footer = parse(text)
    info = run_info(header, footer)

    def rps(server, sc):
        r = rows.get((server, sc))
        return r["rps"] if r else None

    checks = []  # dicts: kind, scenario, store, pair, ratio, target, met (None: not measured)

    # ---------------------------------------------------------------- /v1/verify vs Rust
    verify_lines = []
    for sc, store, target in VERIFY_TARGETS:
        suffix = dict(STORES)[store]
        t, r = "tessera" + suffix, "rust" + suffix
        tv, th, rv, rh = rps(t, sc), rps(t, "healthz"), rps(r, sc), rps(r, "healthz")
        pair = f"{store} ({t} / {r})"
        chk = dict(kind="rust", scenario=sc, store=store, pair=pair, target=target, rows=[(t, sc), (t, "healthz"), (r, sc), (r, "healthz")])
        if None in (tv, th, rv, rh) or 0 in (th, rh, rv):
            chk.update(ratio=None, met=None)
            verify_lines.append(f"| {sc} | {pair} | - | - | - | ≥ {fmt_target(target)}× | not measured |")
        else:
            ta, ra = tv / th, rv / rh
            x = ta / ra
            chk.update(ratio=x, met=x >= target, tessera_floor=ta, rust_floor=ra)
            verify_lines.append(
                f"| {sc} | {pair} | {ta:.3f} ({fmt_rps(tv)} / {fmt_rps(th)}) | {ra:.3f} ({fmt_rps(rv)} / {fmt_rps(rh)}) "
                f"| {fmt_x(x, target)}× | ≥ {fmt_target(target)}× | {result(chk)} |")
        checks.append(chk)

    # ---------------------------------------------------------------- req/s vs Node
    node_lines = []
    for sc in NODE_SCENARIOS:
        for store, suffix in STORES:
            t, n = "tessera" + suffix, "node" + suffix
            tv, nv = rps(t, sc), rps(n, sc)
            pair = f"{store} ({t} / {n})"
            chk = dict(kind="node", scenario=sc, store=store, pair=pair, target=NODE_TARGET, rows=[(t, sc), (n, sc)], tv=tv, nv=nv)
            if tv is None or nv is None or nv == 0:
                chk.update(ratio=None, met=None)
                node_lines.append(f"| {sc} | {pair} | {fmt_rps(tv) if tv is not None else '-'} | {fmt_rps(nv) if nv is not None else '-'} | - | ≥ {fmt_target(NODE_TARGET)}× | not measured |")
            else:
                x = tv / nv
                chk.update(ratio=x, met=x >= NODE_TARGET)
                node_lines.append(f"| {sc} | {pair} | {fmt_rps(tv)} | {fmt_rps(nv)} | {fmt_x(x, NODE_TARGET)}× | ≥ {fmt_target(NODE_TARGET)}× | {result(chk)} |")
            checks.append(chk)

    met = sum(c["met"] is True for c in checks)
    missed = sum(c["met"] is False for c in checks)
    unmeasured = sum(c["met"] is None for c in checks)

    # ---------------------------------------------------------------- header
    src_name = os.path.relpath(os.path.abspath(src), ROOT) if os.path.abspath(src).startswith(ROOT + os.sep) else src
    run = []
    if info.get("date"):
        run.append(info["date"])
    if info.get("cmd"):
        run.append(f"`{info['cmd']}`")
    if info.get("commit"):
        run.append(f"tessera {info['commit']}")
    rounds = info.get("rounds")
    rounds_text = (f"medians of {rounds} interleaved rounds" if rounds and rounds > 1
                   else "one round" if rounds == 1 else "rounds not stated")
    run_text = f"({', '.join(run)};\n{rounds_text})" if run else f"(no run header in the file; {rounds_text})"

    out = []
    out.append("<!--")
    out.append(f"Target checks of the performance issue, computed from {src_name}")
    out.append(run_text + ". Ratios recomputed from the table's req/s medians")
    out.append("(the table's own `× own /healthz` column is rounded to 2 decimals).")
    out.append("Generated by bench/peers_targets.py; edits are lost on the next bench/peers.sh.")
    out.append("-->")
    out.append("# Peer comparison: target checks")
    out.append("")
    out.append("Targets: Tessera's `× own /healthz` on `/v1/verify` ≥ 1.15× the Rust peer's (sessions")
    out.append("in memory), ≥ 2× (sessions in Redis), ≥ 4× (the repeated bearer token; applied to both")
    out.append("stores, the bearer path does not touch the session store); Tessera's req/s ≥ 5× the")
    out.append("Node peer's on every row, login included.")
    out.append("")
    out.append("### `/v1/verify`: Tessera's `× own /healthz` against the Rust peer's")
    out.append("")
    out.append("| scenario | store | Tessera × own /healthz | Rust peer × own /healthz | Tessera / Rust | target | result |")
    out.append("|---|---|---:|---:|---:|---:|---|")
    out += verify_lines
    out.append("")
    out.append(f"### req/s: Tessera against the Node peer (target ≥ {fmt_target(NODE_TARGET)}× on every row)")
    out.append("")
    out.append("| scenario | store | Tessera req/s | Node peer req/s | Tessera / Node | target | result |")
    out.append("|---|---|---:|---:|---:|---:|---|")
    out += node_lines
    out.append("")
    summary = f"{met} met, {missed} missed" + (f", {unmeasured} not measured (row missing from the table)" if unmeasured else "") + "."
    out.append(summary)
    out.append("")
    out.append("## Notes")
    out.append("")
    out += notes(checks, rows, info)

    try:
        with open(dst, "w", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n")
    except OSError as e:
        die(f"cannot write {dst}: {e}")
    line = f"{met} of {len(checks)} targets met"
    if missed:
        line += ", missed: " + "; ".join(f"{c['scenario']} {c['store']} vs {c['kind'].capitalize()} {fmt_x(c['ratio'], c['target'])}× of {fmt_target(c['target'])}×" for c in checks if c["met"] is False)
    if unmeasured:
        line += f", {unmeasured} not measured"
    print(f"{line} (wrote {dst})")


def result(chk):
    if chk["met"] is None:
        return "not measured"
    if chk["met"]:
        return "met"
    return f"**missed**: {fmt_x(chk['ratio'], chk['target'])}× of {fmt_target(chk['target'])}×"


def notes(checks, rows, info):
    out = []

    def row(server, sc):
        return rows.get((server, sc))

    def spread(server, sc):
        r = row(server, sc)
        s = r.get("spread") if r else None
        return s or None

    # Misses
    miss = [c for c in checks if c["met"] is False]
    if miss:
        parts = []
        for c in miss:
            if c["kind"] == "node":
                need = c["target"] * c["nv"]
                parts.append(f"{c['scenario']}, {c['pair']}: {fmt_x(c['ratio'], c['target'])}× for ≥ {fmt_target(c['target'])}× "
                             f"(Tessera would need ≥ {fmt_rps(need)} req/s against the Node peer's {fmt_rps(c['nv'])})")
            else:
                parts.append(f"{c['scenario']}, {c['pair']}: {fmt_x(c['ratio'], c['target'])}× for ≥ {fmt_target(c['target'])}× "
                             f"(missed by {pct(1 - c['ratio'] / c['target'])})")
        out.append("- **Missed**:")
        out += [f"  - {p}." for p in parts]
        if any(c["scenario"] == "login" for c in miss):
            rl = []
            for store, suffix in STORES:
                t, r = row("tessera" + suffix, "login"), row("rust" + suffix, "login")
                if t and r and r["rps"]:
                    rl.append(f"{store} {t['rps'] / r['rps']:.2f}× ({fmt_rps(t['rps'])} / {fmt_rps(r['rps'])})")
            out.append("  - The login rows are bound by Argon2id (m=19456 KiB, t=2, p=1, the same cost in all")
            out.append("    stacks) on one core: compare them with the hash pool's bound,")
            out.append("    `cargo run --release -p tessera-core --example hash_rate`."
                       + (f" Tessera's login against the Rust peer's: {', '.join(rl)}." if rl else ""))

    # Margins
    close = [c for c in checks if c["met"] and c["ratio"] / c["target"] - 1 < MARGIN]
    if close:
        parts = []
        for c in close:
            sp = [f"{s} {sc} {spread(s, sc)}" for s, sc in c["rows"] if spread(s, sc)]
            parts.append(f"{c['scenario']}, {c['pair']} against the {c['kind'].capitalize()} peer passes at "
                         f"{fmt_x(c['ratio'], c['target'])}× for ≥ {fmt_target(c['target'])}× "
                         f"(+{100 * (c['ratio'] / c['target'] - 1):.1f} %)"
                         + (f"; spreads: {', '.join(sp)}" if sp else ""))
        out.append(f"- **Margins** (met within {pct(MARGIN)} of the line):")
        out += [f"  - {p}." for p in parts]

    # Floors and absolute req/s against the Rust peer
    parts = []
    for store, suffix in STORES:
        t, r = "tessera" + suffix, "rust" + suffix
        th, rh = row(t, "healthz"), row(r, "healthz")
        if th and rh and rh["rps"]:
            parts.append(f"{store}: `/healthz` {fmt_rps(th['rps'])} against {fmt_rps(rh['rps'])} req/s ({th['rps'] / rh['rps']:.2f}×)")
        for sc in ("verify-session", "verify-bearer"):
            tv, rv = row(t, sc), row(r, sc)
            if tv and rv and rv["rps"]:
                parts.append(f"{sc} {tv['rps'] / rv['rps']:.2f}× ({fmt_rps(tv['rps'])} vs {fmt_rps(rv['rps'])})")
    if parts:
        out.append("- **Absolute req/s, Tessera against the Rust peer** (the `× own /healthz` ratios start")
        out.append("  from each server's own floor): " + "; ".join(parts) + ".")
        extra = []
        for s in ("tessera-redis", "rust-redis", "node-redis"):
            r = row(s, "verify-session")
            m = re.search(r"\(\+(\d+)%\)", r.get("server CPU", "")) if r else None
            extra.append((s, m.group(1) if m else ("0" if r else None)))
        # Without any (+N%), EXTRA_PIDS was probably not measured: say nothing.
        if any(v not in (None, "0") for _, v in extra):
            extra = [f"{s} {v} %" for s, v in extra if v is not None]
            out.append("  Redis's CPU during verify-session (of the shared core): " + ", ".join(extra) + ".")

    # Disturbance and errors
    others, flagged, runs = [], [], 0
    rounds = info.get("rounds") or 1
    for (server, sc), r in rows.items():
        runs += rounds
        m = re.match(r"(\d+)%(?:\s*⚠(\d+))?", r.get("other CPU", ""))
        if m:
            others.append(int(m.group(1)))
            if m.group(2):
                flagged.append((server, sc, int(m.group(2))))
    if others:
        line = f"- **Disturbance**: other CPU (the rest of the machine) {min(others)}–{max(others)} % of a core over the rows"
        if flagged:
            n = sum(k for _, _, k in flagged)
            tess = [f"{s} {sc}" for s, sc, _ in flagged if s.startswith("tessera")]
            line += (f"; {n} of the {runs} runs stayed above MAX_OTHER_CPU after the retries (⚠ in the table: "
                     + ", ".join(f"{s} {sc} ×{k}" for s, sc, k in flagged) + "). "
                     + ("Tessera rows flagged: " + ", ".join(tess) + "." if tess else "No Tessera run was flagged."))
            hit = sorted({f"{c['scenario']} {c['store']} vs {c['kind'].capitalize()}" for c in checks
                          if c["met"] is not None and any((s, sc) in c["rows"] for s, sc, _ in flagged)})
            if hit:
                line += " Checks that use a flagged row: " + ", ".join(hit) + "."
        else:
            line += "; no run stayed above MAX_OTHER_CPU."
        out.append(line)
    errs = [f"{s} {sc} ({r['errors']})" for (s, sc), r in rows.items() if "⚠" in r.get("errors", "")]
    if errs:
        out.append("- **Errors** above 0.1 % of requests (those rows measure failures): " + ", ".join(errs) + ".")
    if not out:
        out.append("- Nothing to note.")
    return out


if __name__ == "__main__":
    main()
