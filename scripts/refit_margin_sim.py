#!/usr/bin/env python3
"""Would a refit help? A simulation of the live refit choice on replayed
spend series (ETS(A,N,A) on ln(1 + y/c), parameters on a grid).

    vigie replay --input /tmp/g42/events.ndjson --output /tmp/g42/out0
    python3 scripts/refit_margin_sim.py /tmp/g42/out0

Every 28 days from day 84 (or the window), per series: fit α, γ on the
window without its last quarter, compare its held-out squared error with
the configured α = 0.15, γ = 0.1 (both from the same start: season from
every cycle), then run both parameter sets on from the live state for the
next 28 days and print their mean absolute one-step error on the value
scale: configured, every refit, refits taken when they win the held-out
quarter by the margin. Standard library only.
"""

import csv
import itertools
import math
import sys
from collections import defaultdict

M = 7
GRID = [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5]
CONFIG = (0.15, 0.1)


def init_all(x):
    k = len(x) // M
    means = [sum(x[j * M:(j + 1) * M]) / M for j in range(k)]
    s = [sum(x[j * M + i] - means[j] for j in range(k)) / k for i in range(M)]
    ms = sum(s) / M
    return means[0], [v - ms for v in s]


def run(x, a, g, level, season, pos=0, errs_from=0, val=None, c=1.0):
    season = list(season)
    sse, mae, n = 0.0, 0.0, 0
    for t, v in enumerate(x):
        f = level + season[pos]
        e = v - f
        if t >= errs_from:
            sse += e * e
            if val is not None:
                mae += abs(val[t] - c * math.expm1(max(f, 0.0)))
                n += 1
        level += a * e
        season[pos] += g * e
        pos = (pos + 1) % M
    return sse, (mae / n if n else 0.0), level, season, pos


def trial(vals, window, margin, series=40):
    tot = defaultdict(float)
    for y in list(vals.values())[:series]:
        c = next(v for v in y if v > 0)
        x = [math.log1p(max(v, 0.0) / c) for v in y]
        lv, se = init_all(x[:14])
        for t in range(max(window, 84), len(x) - 28, 28):
            w = x[t - window:t]
            train = window - window // 4
            l0, s0 = init_all(w[:train])
            best = min(itertools.product(GRID, GRID), key=lambda p: run(w[:train], p[0], p[1], l0, s0)[0])
            held_new = run(w, best[0], best[1], l0, s0, errs_from=train)[0]
            held_now = run(w, *CONFIG, l0, s0, errs_from=train)[0]
            _, _, lvl, sea, pos = run(x[:t], *CONFIG, lv, se)
            fut_now = run(x[t:t + 28], *CONFIG, lvl, sea, pos, val=y[t:t + 28], c=c)[1]
            fut_new = run(x[t:t + 28], best[0], best[1], lvl, sea, pos, val=y[t:t + 28], c=c)[1]
            taken = held_new < margin * held_now
            tot["configured"] += fut_now
            tot["every refit"] += fut_new
            tot["taken"] += fut_new if taken else fut_now
            tot["refits taken"] += taken
            tot["refit points"] += 1
    n = tot["refit points"]
    out = {k: (round(v / n, 1) if k in ("configured", "every refit", "taken") else int(v)) for k, v in tot.items()}
    print(f"history {window}, margin {margin}: {out}")


def main(out_dir):
    vals = defaultdict(list)
    with open(f"{out_dir}/points.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["kind"] == "spend":
                vals[row["series"]].append(float(row["value"]))
    for window in (56, 112):
        for margin in (1.0, 0.9, 0.8):
            trial(vals, window, margin)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/g42/out0")
