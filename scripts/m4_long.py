#!/usr/bin/env python3
"""M4 wide file (id, then values; ragged rows) to long CSV series_id,t,value.

  python3 scripts/m4_long.py Hourly-train.csv hourly-train-long.csv
"""
import csv
import sys

src, dst = sys.argv[1], sys.argv[2]
with open(src) as f, open(dst, "w", newline="") as g:
    r = csv.reader(f)
    next(r)
    w = csv.writer(g)
    w.writerow(["series_id", "t", "value"])
    for row in r:
        for i, v in enumerate(x for x in row[1:] if x != ""):
            w.writerow([row[0], i + 1, v])
