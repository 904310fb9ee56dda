#!/usr/bin/env python3
"""Table the by_key criterion run against the targets of issue #14.

Usage (from the workspace root, after `cargo bench -p benches --bench by_key`, or
through scripts/bench_user.sh):
    python3 scripts/by_key_table.py [--criterion-dir DIR]

Input: criterion's <criterion-dir>/by_key/<id>/new/estimates.json (the median's
point estimate, in ns) and the benchmark.json beside it (the real id: criterion
turns "/" into "_" in directory names). The default criterion dir is
$CARGO_TARGET_DIR/criterion, else <workspace>/target/criterion. Ids are
by_key/<shape>/<access>/<call>/<impl> (benches/benches/by_key.rs).

Output (markdown, stdout): every brama cell beside its reference in the same run,
the ratio, the target and met/missed, then the thread scaling, then a count.
The targets (issue #14, in the user's build):
  - every `available` cell (available, open_reject, unknown_key: each is an
    `available` call) <= 1.3 x the dashmap get over the same keys and pattern
    (for unknown_key, the get of the same unknown keys);
  - every `available_success` cell <= 0.7 x the DashMap<String, Recloser>
    (foldhash) get + call over the same keys and pattern;
  - 2 threads on one key <= 1.5 x one thread (available, available_success).
Cells with no target (failure; the SipHash map) are shown for information.
A missing entry (not run, e.g. a BY_KEY_SHAPES subset) is shown as "-" and
counts neither as met nor as missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUP = "by_key"

SHAPES = ["unscoped9", "scoped19", "scoped40"]
ACCESSES = ["hot", "shuffled1k", "random1m", "one_key_1t", "one_key_2t", "two_keys_2t"]
CALLS = ["available", "available_success", "failure", "open_reject", "unknown_key"]

AVAILABLE_MAX = 1.3
SUCCESS_MAX = 0.7
TWO_THREADS_MAX = 1.5


def default_criterion_dir() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR")
    return (Path(target) if target else ROOT / "target") / "criterion"


def load(criterion_dir: Path) -> dict[str, float]:
    """Median in ns of every by_key entry, keyed by function id."""
    out: dict[str, float] = {}
    group_dir = criterion_dir / GROUP
    if not group_dir.is_dir():
        return out
    for bench_json in group_dir.glob("*/new/benchmark.json"):
        try:
            meta = json.loads(bench_json.read_text())
            est = json.loads((bench_json.parent / "estimates.json").read_text())
        except (OSError, ValueError) as e:
            print(f"warning: skipped {bench_json.parent}: {e}", file=sys.stderr)
            continue
        if meta.get("group_id") != GROUP:
            continue
        out[meta["function_id"]] = est["median"]["point_estimate"]
    return out


def ns(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.1f} ns" if v < 1000 else f"{v:,.0f} ns"


class Tally:
    def __init__(self) -> None:
        self.met = 0
        self.missed: list[str] = []

    def judge(self, name: str, ratio: float | None, limit: float | None) -> str:
        if limit is None:
            return "(info)"
        if ratio is None:
            return "-"
        if ratio <= limit:
            self.met += 1
            return "met"
        self.missed.append(f"{name}: {ratio:.2f}x (target <= {limit}x)")
        return "**missed**"


def references(access: str, call: str) -> list[tuple[str, float | None]]:
    """(reference id, ratio limit or None for information) for one brama cell."""
    if call in ("available", "open_reject"):
        return [(f"{access}/available/dashmap_get", AVAILABLE_MAX)]
    if call == "unknown_key":
        return [(f"{access}/unknown_key/dashmap_get", AVAILABLE_MAX)]
    if call == "available_success":
        return [
            (f"{access}/available_success/recloser_fold", SUCCESS_MAX),
            (f"{access}/available_success/recloser_sip", None),
        ]
    return [(f"{access}/available/dashmap_get", None)]


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--criterion-dir", type=Path, default=default_criterion_dir())
    args = ap.parse_args()

    m = load(args.criterion_dir)
    if not m:
        print(f"no {GROUP} results under {args.criterion_dir}", file=sys.stderr)
        return 1
    tally = Tally()

    print(f"## by_key: brama beside its references (medians, one run, {len(m)} entries)")
    print()
    print("| shape | access | call | brama | reference | reference median | ratio | target | |")
    print("|---|---|---|---:|---|---:|---:|---:|---|")
    for shape in SHAPES:
        for access in ACCESSES:
            for call in CALLS:
                mine = m.get(f"{shape}/{access}/{call}/brama")
                if mine is None:
                    continue
                for ref_id, limit in references(access, call):
                    theirs = m.get(f"{shape}/{ref_id}")
                    if theirs is None and limit is None:
                        continue  # an information-only reference this access lacks
                    r = ratio(mine, theirs)
                    name = f"{shape}/{access}/{call}"
                    verdict = tally.judge(name, r, limit)
                    target = "-" if limit is None else f"<= {limit}x"
                    ref_name = ref_id.rsplit("/", 1)[1]
                    print(
                        f"| {shape} | {access} | {call} | {ns(mine)} | {ref_name} "
                        f"| {ns(theirs)} | {fmt_ratio(r)} | {target} | {verdict} |"
                    )

    print()
    print("## by_key: two threads against one (ns per call per thread)")
    print()
    print("| shape | call | impl | 1 thread | 2 threads, one key | ratio | target | | "
          "2 threads, two keys | ratio |")
    print("|---|---|---|---:|---:|---:|---:|---|---:|---:|")
    for shape in SHAPES:
        for call, impls in (
            ("available", ["brama", "dashmap_get"]),
            ("available_success", ["brama", "recloser_fold"]),
        ):
            for imp in impls:
                one = m.get(f"{shape}/one_key_1t/{call}/{imp}")
                same = m.get(f"{shape}/one_key_2t/{call}/{imp}")
                diff = m.get(f"{shape}/two_keys_2t/{call}/{imp}")
                if one is None and same is None and diff is None:
                    continue
                r_same, r_diff = ratio(same, one), ratio(diff, one)
                limit = TWO_THREADS_MAX if imp == "brama" else None
                verdict = tally.judge(f"{shape}/one_key_2t/{call} vs 1t", r_same, limit)
                target = "-" if limit is None else f"<= {limit}x"
                print(
                    f"| {shape} | {call} | {imp} | {ns(one)} | {ns(same)} | "
                    f"{fmt_ratio(r_same)} | {target} | {verdict} | {ns(diff)} | "
                    f"{fmt_ratio(r_diff)} |"
                )

    judged = tally.met + len(tally.missed)
    print()
    print(f"**Targets met: {tally.met} of {judged}.**")
    if tally.missed:
        print()
        print("Missed:")
        for line in tally.missed:
            print(f"- {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
