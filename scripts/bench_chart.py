#!/usr/bin/env python3
"""Summarise brama's criterion benchmarks: JSON, two PNG charts, a ratio table.

Dependencies: Python 3.8+ and matplotlib (for the PNGs only).
    pip install matplotlib
Without matplotlib the script still writes summary.json and prints the table,
and says that it skipped the charts.

Usage (from the workspace root, after the benches have run):
    cargo bench -p benches --bench hot_path
    cargo bench -p benches --bench contention
    python3 scripts/bench_chart.py [--criterion-dir DIR] [--out-dir DIR]
    python3 scripts/bench_chart.py --from-summary docs/benchmarks/summary.json
        (re-draw the charts and the table from a saved summary instead)

Input: criterion's output, <criterion-dir>/<group>/<id...>/new/estimates.json
(the mean's point estimate, in ns) and the benchmark.json beside it (the real
id; criterion turns "/" in an id into "_" in the directory name). The default
criterion dir is $CARGO_TARGET_DIR/criterion, else <workspace>/target/criterion.

Output (default <workspace>/docs/benchmarks/):
    summary.json    every entry's mean / median / 95 % CI in ns, plus the ratios
    hot_path.png    ns/op per implementation, single thread
    contention.png  ns/op per thread: same key 1 thread vs 2 threads vs 2 keys

Missing entries (not run yet, e.g. brama's before it exists) are skipped in the
charts and shown as "-" in the table; the script never fails on them.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Display order of the hot_path entries. Ids not listed here are appended.
HOT_PATH_ORDER = [
    "baseline/atomic_load",
    "baseline/dashmap_get",
    "baseline/compare_exchange",
    "brama/handle_available",
    "brama/handle_success",
    "brama/handle_failure",
    "brama/key_available",
    "brama/key_success",
    "brama/handle_acquire_success",
    "brama/open_reject",
    "recloser/call_ok",
    "failsafe/is_call_permitted",
    "failsafe/on_success",
    "circuitbreaker_rs/call_ok",
    "dashmap_recloser/key_call_ok",
]

# Contention cases, in display order: suffix of "<impl>/<op>/<suffix>".
CONTENTION_CASES = ["same_key/1t", "same_key/2t", "diff_keys/2t"]

# (numerator, denominator) pairs for the ratio table, hot_path group.
HOT_PATH_RATIOS = [
    ("brama/handle_available", "baseline/atomic_load"),
    ("brama/key_available", "baseline/dashmap_get"),
    ("brama/handle_success", "baseline/atomic_load"),
    ("brama/handle_failure", "baseline/atomic_load"),
    ("brama/open_reject", "baseline/atomic_load"),
    ("baseline/dashmap_get", "baseline/atomic_load"),
    ("baseline/compare_exchange", "baseline/atomic_load"),
    ("brama/handle_failure", "baseline/compare_exchange"),
    ("dashmap_recloser/key_call_ok", "baseline/dashmap_get"),
]


def _m(group: dict, i: str):
    e = group.get(i)
    return e["mean_ns"] if e else None


def _div(a, b):
    return None if a is None or b in (None, 0) else a / b


def _add(a, b):
    return None if a is None or b is None else a + b


# The targets of issue "Benchmarks and speed": (figure, how it is computed, bound, sense).
TARGETS = [
    ("handle_available / atomic_load", lambda h, c: _div(_m(h, "brama/handle_available"), _m(h, "baseline/atomic_load")), 1.3, "<="),
    ("key_available / dashmap_get", lambda h, c: _div(_m(h, "brama/key_available"), _m(h, "baseline/dashmap_get")), 1.2, "<="),
    ("handle_success / atomic_load", lambda h, c: _div(_m(h, "brama/handle_success"), _m(h, "baseline/atomic_load")), 4.0, "<="),
    ("handle_failure / atomic_load", lambda h, c: _div(_m(h, "brama/handle_failure"), _m(h, "baseline/atomic_load")), 4.0, "<="),
    ("open_reject / atomic_load", lambda h, c: _div(_m(h, "brama/open_reject"), _m(h, "baseline/atomic_load")), 6.0, "<="),
    ("recloser/call_ok / (handle_available + handle_success)", lambda h, c: _div(_m(h, "recloser/call_ok"), _add(_m(h, "brama/handle_available"), _m(h, "brama/handle_success"))), 4.0, ">="),
    ("dashmap_recloser/key_call_ok / (key_available + key_success)", lambda h, c: _div(_m(h, "dashmap_recloser/key_call_ok"), _add(_m(h, "brama/key_available"), _m(h, "brama/key_success"))), 1.5, ">="),
    ("contention key_available same key 2t / 1t", lambda h, c: _div(_m(c, "brama/key_available/same_key/2t"), _m(c, "brama/key_available/same_key/1t")), 1.3, "<="),
    ("contention handle_success same key 2t / 1t", lambda h, c: _div(_m(c, "brama/handle_success/same_key/2t"), _m(c, "brama/handle_success/same_key/1t")), 2.5, "<="),
    ("contention same key 2t: recloser / (handle_available + handle_success)", lambda h, c: _div(_m(c, "recloser/call_ok/same_key/2t"), _add(_m(c, "brama/handle_available/same_key/2t"), _m(c, "brama/handle_success/same_key/2t"))), 10.0, ">="),
]


def build_targets(hot: dict, cont: dict) -> list[dict]:
    rows = []
    for name, f, bound, sense in TARGETS:
        v = f(hot, cont)
        met = None if v is None else (v <= bound if sense == "<=" else v >= bound)
        rows.append({"figure": name, "value": v, "target": f"{sense} {bound}", "met": met})
    return rows


def default_criterion_dir() -> Path:
    # criterion resolves the target dir from the bench's working directory, which
    # cargo sets to the package (benches/), so look there as well as at the root.
    target = os.environ.get("CARGO_TARGET_DIR")
    candidates = []
    if target:
        candidates += [Path(target), ROOT / "benches" / target, ROOT / target]
    candidates += [ROOT / "target", ROOT / "benches" / "target"]
    for base in candidates:
        if (base / "criterion" / "hot_path").is_dir():
            return base / "criterion"
    return candidates[0] / "criterion"


def read_group(criterion_dir: Path, group: str) -> dict[str, dict]:
    """Map id -> estimates (ns) for every finished entry of `group`."""
    out: dict[str, dict] = {}
    gdir = criterion_dir / group
    if not gdir.is_dir():
        return out
    for est_path in sorted(gdir.rglob("new/estimates.json")):
        new_dir = est_path.parent
        bench_id = None
        meta_path = new_dir / "benchmark.json"
        try:
            meta = json.loads(meta_path.read_text())
            parts = [meta.get("function_id"), meta.get("value_str")]
            bench_id = "/".join(p for p in parts if p)
        except (OSError, ValueError):
            pass
        if not bench_id:
            # No metadata: fall back on the directory path below the group.
            bench_id = new_dir.parent.relative_to(gdir).as_posix()
        try:
            est = json.loads(est_path.read_text())
            mean = est["mean"]
            ci = mean.get("confidence_interval", {})
            out[bench_id] = {
                "mean_ns": mean["point_estimate"],
                "ci_low_ns": ci.get("lower_bound"),
                "ci_high_ns": ci.get("upper_bound"),
                "median_ns": est.get("median", {}).get("point_estimate"),
            }
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"warning: skipping {est_path}: {e}", file=sys.stderr)
    return out


def ordered(ids, order):
    known = [i for i in order if i in ids]
    return known + sorted(i for i in ids if i not in order)


def ratio(group: dict, num: str, den: str):
    a, b = group.get(num), group.get(den)
    if not a or not b or not b["mean_ns"]:
        return None
    return a["mean_ns"] / b["mean_ns"]


def fmt_ns(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def contention_impls(group: dict) -> list[str]:
    impls = set()
    for bench_id in group:
        for case in CONTENTION_CASES:
            if bench_id.endswith("/" + case):
                impls.add(bench_id[: -len(case) - 1])
    return ordered(impls, HOT_PATH_ORDER)


def build_ratios(hot: dict, cont: dict) -> list[dict]:
    rows = []
    for num, den in HOT_PATH_RATIOS:
        rows.append({"group": "hot_path", "num": num, "den": den, "ratio": ratio(hot, num, den)})
    for impl in contention_impls(cont):
        base = f"{impl}/same_key/1t"
        for case in CONTENTION_CASES[1:]:
            rows.append(
                {
                    "group": "contention",
                    "num": f"{impl}/{case}",
                    "den": base,
                    "ratio": ratio(cont, f"{impl}/{case}", base),
                }
            )
    return rows


def print_tables(hot: dict, cont: dict, ratios: list[dict]) -> None:
    print("hot_path (single thread, mean ns/op)")
    ids = ordered(set(hot) | set(HOT_PATH_ORDER), HOT_PATH_ORDER)
    w = max(len(i) for i in ids)
    for i in ids:
        print(f"  {i:<{w}}  {fmt_ns(hot.get(i, {}).get('mean_ns')):>9}")
    print()
    if cont:
        print("contention (mean ns/op per thread)")
        impls = contention_impls(cont)
        w = max(len(i) for i in impls)
        print(f"  {'':<{w}}  " + "  ".join(f"{c:>13}" for c in CONTENTION_CASES))
        for impl in impls:
            vals = [fmt_ns(cont.get(f"{impl}/{c}", {}).get("mean_ns")) for c in CONTENTION_CASES]
            print(f"  {impl:<{w}}  " + "  ".join(f"{v:>13}" for v in vals))
        print()
    print("targets (one run)")
    tw = max(len(t["figure"]) for t in build_targets(hot, cont))
    for t in build_targets(hot, cont):
        v = "-" if t["value"] is None else f"{t['value']:.2f}"
        met = {True: "met", False: "NOT met", None: "-"}[t["met"]]
        print(f"  {t['figure']:<{tw}}  {v:>8}  target {t['target']:<7} {met}")
    print()
    print("ratios (mean / mean)")
    w = max(len(f"{r['num']} / {r['den']}") for r in ratios)
    for r in ratios:
        label = f"{r['num']} / {r['den']}"
        val = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        print(f"  {label:<{w}}  {val:>8}")


def family_color(bench_id: str) -> str:
    fam = bench_id.split("/", 1)[0]
    return {
        "baseline": "#7f7f7f",
        "brama": "#d62728",
        "recloser": "#1f77b4",
        "failsafe": "#2ca02c",
        "circuitbreaker_rs": "#9467bd",
        "dashmap_recloser": "#17becf",
    }.get(fam, "#ff7f0e")


def use_log(values) -> bool:
    vals = [v for v in values if v and v > 0]
    return len(vals) > 1 and max(vals) / min(vals) > 20


def plot_hot_path(plt, hot: dict, path: Path) -> bool:
    ids = ordered(hot, HOT_PATH_ORDER)
    if not ids:
        return False
    vals = [hot[i]["mean_ns"] for i in ids]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(ids) + 1.6))
    y = list(range(len(ids)))
    ax.barh(y, vals, color=[family_color(i) for i in ids])
    ax.set_yticks(y, ids)
    ax.invert_yaxis()
    log = use_log(vals)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("mean ns per operation" + (" (log scale)" if log else ""))
    ax.set_title("hot_path: one check / one guarded call, single thread")
    for yi, v in zip(y, vals):
        ax.text(v, yi, f" {fmt_ns(v)}", va="center", fontsize=8)
    ax.set_xlim(right=max(vals) * (3 if log else 1.15))
    ax.grid(axis="x", alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_contention(plt, cont: dict, path: Path) -> bool:
    impls = contention_impls(cont)
    if not impls:
        return False
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(impls) + 2), 4.5))
    width = 0.8 / len(CONTENTION_CASES)
    colors = ["#4c72b0", "#dd8452", "#55a868"]
    all_vals = []
    for ci, case in enumerate(CONTENTION_CASES):
        xs, vs = [], []
        for ii, impl in enumerate(impls):
            e = cont.get(f"{impl}/{case}")
            if e:
                xs.append(ii + (ci - (len(CONTENTION_CASES) - 1) / 2) * width)
                vs.append(e["mean_ns"])
        all_vals += vs
        ax.bar(xs, vs, width, label=case, color=colors[ci % len(colors)])
        for x, v in zip(xs, vs):
            ax.text(x, v, fmt_ns(v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(impls)), impls)
    log = use_log(all_vals)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel("mean ns per operation per thread" + (" (log)" if log else ""))
    ax.set_title("contention: 1 vs 2 threads, same key vs different keys")
    if not log and all_vals:
        ax.set_ylim(top=max(all_vals) * 1.25)  # room for the legend above the bars
    ax.legend(loc="upper center", ncol=len(CONTENTION_CASES), fontsize=8)
    ax.grid(axis="y", alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--criterion-dir", type=Path, default=default_criterion_dir())
    ap.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "benchmarks")
    ap.add_argument(
        "--from-summary",
        type=Path,
        help="read the entries from a summary.json this script wrote, not from criterion",
    )
    args = ap.parse_args()

    if args.from_summary:
        saved = json.loads(args.from_summary.read_text())
        hot = saved.get("groups", {}).get("hot_path", {})
        cont = saved.get("groups", {}).get("contention", {})
        generated_at = saved.get("generated_at")
    else:
        hot = read_group(args.criterion_dir, "hot_path")
        cont = read_group(args.criterion_dir, "contention")
        generated_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        if not hot and not cont:
            print(f"warning: no criterion results under {args.criterion_dir}", file=sys.stderr)

    ratios = build_ratios(hot, cont)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "generated_at": generated_at,
        "unit": "ns",
        "statistic": "criterion mean point estimate (ci_*: 95 % confidence interval)",
        "groups": {"hot_path": hot, "contention": cont},
        "ratios": ratios,
        "targets": build_targets(hot, cont),
    }
    (args.out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")

    print_tables(hot, cont, ratios)
    print()
    print(f"wrote {args.out_dir / 'summary.json'}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install matplotlib): charts skipped", file=sys.stderr)
        return 0
    for name, fn, data in (
        ("hot_path.png", plot_hot_path, hot),
        ("contention.png", plot_contention, cont),
    ):
        if fn(plt, data, args.out_dir / name):
            print(f"wrote {args.out_dir / name}")
        else:
            print(f"no data for {name}: skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. piped into `head`
        sys.exit(0)
