#!/usr/bin/env python3
"""Live models at the end of a replay: which model each series ended with,
and its rolling MASE and interval coverage, from `forecasts.csv`.

    vigie replay --input /tmp/g42/events.ndjson --output /tmp/g42/out
    python3 scripts/live_accuracy.py /tmp/g42/out
"""

import csv
import statistics
import sys
from collections import Counter, defaultdict


def main(out_dir: str) -> None:
    last = {}
    with open(f"{out_dir}/forecasts.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["step"] != "1":
                continue
            key = (row["tenant"], row["series"])
            if key not in last or row["made_at"] >= last[key]["made_at"]:
                last[key] = row
    if not last:
        sys.exit(f"{out_dir}/forecasts.csv has no published forecast")
    by_kind = defaultdict(list)
    for row in last.values():
        by_kind[row["kind"]].append(row)
    print(f"{len(last)} series with a published forecast")
    for kind, rows in sorted(by_kind.items()):
        models = Counter(r["model"] for r in rows)
        refitted = sum(1 for r in rows if r["fitted_at"])
        mase = [float(r["mase"]) for r in rows if r["mase"]]
        cov = [float(r["coverage"]) for r in rows if r["coverage"]]
        print(f"\n{kind}: {len(rows)} series, {refitted} refitted")
        print("  models: " + ", ".join(f"{m} {n}" for m, n in models.most_common()))
        if mase:
            below = sum(1 for m in mase if m < 1.0)
            print(f"  rolling MASE: median {statistics.median(mase):.3f}, "
                  f"below 1 for {below} of {len(mase)} ({100 * below / len(mase):.0f}%)")
        if cov:
            print(f"  rolling coverage of the one-step interval: mean {100 * statistics.mean(cov):.1f}%, "
                  f"median {100 * statistics.median(cov):.1f}%")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
