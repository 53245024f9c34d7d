#!/usr/bin/env python3
"""Measures `no_data` on generated data: silences are cut into some series,
the rest are left as they are.

  python3 scripts/eval_no_data.py make GEN_DIR OUT_EVENTS [--series 30 --seed 1]
  vigie replay --input OUT_EVENTS --output OUT_DIR
  python3 scripts/eval_no_data.py score GEN_DIR OUT_EVENTS.silences.json OUT_DIR

`make` picks `--series` series of `vigie generate`'s output at random and
removes every event of each (its sales, for stock) over a silence of 7 to
28 days starting between day 60 and day 300; the silences go to
OUT_EVENTS.silences.json. `score` reports, per kind of series (regular
stock, intermittent stock, spend), how many silences raised `no_data`,
the delay from the silence's start to the alert (days), whether it
resolved once data came back, and the `no_data` alerts on series with no
silence (false alarms), per 1,000 series-days. Standard library only.
"""
import argparse, csv, json, random
from datetime import datetime, timedelta

ap = argparse.ArgumentParser()
ap.add_argument("cmd", choices=["make", "score"])
ap.add_argument("gen"); ap.add_argument("events")
ap.add_argument("out", nargs="?")
ap.add_argument("--series", type=int, default=30)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
labels = json.load(open(f"{a.gen}/labels.json"))
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00"))
start = t(labels["start"])
series = labels["series"]
def key(s): return (s["tenant"], s["series"])
def cls(s): return "spend" if s["kind"] == "spend" else "intermittent" if s.get("intermittent") else "regular"

if a.cmd == "make":
    rng = random.Random(a.seed)
    picked = rng.sample(series, a.series)
    sil = {}
    for s in picked:
        d0 = rng.randint(60, 300)
        sil[key(s)] = (d0, d0 + rng.randint(7, 28))
    kept = dropped = 0
    with open(f"{a.gen}/events.ndjson") as f, open(a.events, "w") as out:
        for line in f:
            e = json.loads(line)
            k = (e["tenant"], f'{e["site"]}/{e["sku"]}' if e["kind"] == "stock" else e["entity"])
            w = sil.get(k)
            if w and (e["kind"] == "spend" or e["movement"] == "sale"):
                day = (t(e["ts"]) - start).days
                if w[0] <= day < w[1]:
                    dropped += 1
                    continue
            kept += 1
            out.write(line)
    json.dump([{"tenant": k[0], "series": k[1], "from_day": w[0], "to_day": w[1]} for k, w in sil.items()],
              open(a.events + ".silences.json", "w"), indent=1)
    print(f"{kept} events kept, {dropped} removed over {len(sil)} silences")
else:
    sil = {(x["tenant"], x["series"]): x for x in json.load(open(a.events))}
    fired = {}
    for r in csv.DictReader(open(f"{a.out}/alerts.csv")):
        if r["rule"] == "no_data":
            fired.setdefault((r["tenant"], r["series"]), []).append((r["status"], t(r["ts"])))
    res = {}
    for s in series:
        c = cls(s); k = key(s)
        r = res.setdefault(c, {"silences": 0, "found": 0, "delays": [], "resolved": 0, "false": 0, "days": 0})
        w = sil.get(k)
        alerts = fired.get(k, [])
        if w is None:
            r["days"] += labels["days"]
            r["false"] += sum(1 for st, _ in alerts if st == "firing")
            continue
        r["silences"] += 1
        w0, w1 = start + timedelta(days=w["from_day"]), start + timedelta(days=w["to_day"])
        hit = [ts for st, ts in alerts if st == "firing" and w0 <= ts <= w1 + timedelta(days=1)]
        if hit:
            r["found"] += 1
            r["delays"].append(round((hit[0] - w0).total_seconds() / 86400, 1))
            r["resolved"] += any(st == "resolved" and ts >= hit[0] for st, ts in alerts)
        r["false"] += sum(1 for st, ts in alerts if st == "firing" and not (w0 <= ts <= w1 + timedelta(days=1)))
    for c, r in res.items():
        d = sorted(r.pop("delays"))
        r["delay_days_min_median_max"] = [d[0], d[len(d) // 2], d[-1]] if d else None
        r["false_per_1000_series_days"] = round(1000 * r["false"] / r["days"], 3) if r["days"] else None
    print(json.dumps(res, indent=1))
