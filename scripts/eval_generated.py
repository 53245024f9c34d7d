#!/usr/bin/env python3
"""Scores `vigie replay` output against `vigie generate` ground truth.

  python3 scripts/eval_generated.py GEN_DIR OUT_DIR [--warmup-days 28]

Counts what replay *reports* (anomalies.csv): recall of injected anomalous
days, false anomalies per 1,000 points on clean series (after warm-up),
spend anomalies and spend_anomaly alerts in December; how many injected
stock-outs were alerted at the event that caused them, and how many had a
predicted_stockout alert before the stock-out. Also, for comparison, the
σ-only rule (|z| ≥ k on every point). Standard library only.
"""
import csv, json, sys, argparse
from datetime import datetime, timedelta

ap = argparse.ArgumentParser()
ap.add_argument("gen"); ap.add_argument("out")
ap.add_argument("--warmup-days", type=int, default=28)
a = ap.parse_args()
labels = json.load(open(f"{a.gen}/labels.json"))
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00"))
start = t(labels["start"]); warm = start + timedelta(days=a.warmup_days)
anoms = {}
for r in csv.DictReader(open(f"{a.out}/anomalies.csv")):
    anoms.setdefault((r["tenant"], r["series"]), {})[r["ts"]] = r
found = 0
for l in labels["anomalies"]:
    found += anoms.get((l["tenant"], l["series"]), {}).get(l["day"]) is not None
n_inj = len(labels["anomalies"])
clean = {(s["tenant"], s["series"]): s for s in labels["series"] if s["clean"]}
kinds = {(s["tenant"], s["series"]): s["kind"] for s in labels["series"]}
pts = {"all": 0, "intermittent": 0, "regular": 0, "spend": 0}; fa = {"all": 0, "intermittent": 0, "regular": 0, "spend": 0}
for r in csv.DictReader(open(f"{a.out}/points.csv")):
    s = clean.get((r["tenant"], r["series"]))
    if s is None or t(r["ts"]) < warm or r["z"] == "": continue
    cls = "spend" if s["kind"] == "spend" else "intermittent" if s["intermittent"] else "regular"
    bad = anoms.get((r["tenant"], r["series"]), {}).get(r["ts"]) is not None
    for c in ("all", cls): pts[c] += 1; fa[c] += bad
december = {}
for (tenant, series), by_ts in anoms.items():
    if kinds.get((tenant, series)) != "spend": continue
    for ts in by_ts:
        if t(ts).month == 12: december[t(ts).year] = december.get(t(ts).year, 0) + 1
alerts = alerts_all = list(csv.DictReader(open(f"{a.out}/alerts.csv")))
at_event = before = 0
for so in labels["stockouts"]:
    key = (so["tenant"], so["series"])
    at_event += any(x["rule"] == "stock_out" and x["status"] == "firing" and x["event_id"] == so["event_id"] for x in alerts)
    before += any(x["rule"] == "predicted_stockout" and x["status"] == "firing" and (x["tenant"], x["series"]) == key
                  and t(so["disruption_start"]) <= t(x["ts"]) < t(so["ts"]) for x in alerts)
n_so = len(labels["stockouts"])
res = {
  "injected_anomalies": n_inj, "recall_reported": found / max(n_inj, 1),
  "clean_points": pts["all"], "false_per_1000": 1000 * fa["all"] / max(pts["all"], 1),
  "false_per_1000_regular_stock": 1000 * fa["regular"] / max(pts["regular"], 1),
  "false_per_1000_intermittent_stock": 1000 * fa["intermittent"] / max(pts["intermittent"], 1),
  "false_per_1000_spend": 1000 * fa["spend"] / max(pts["spend"], 1),
  "reported_total": sum(len(v) for v in anoms.values()),
  "spend_anomalies_in_december_by_year": december,
  "spend_anomaly_alerts_firing_new": sum(1 for x in alerts_all if x["rule"] == "spend_anomaly" and x["status"] == "firing" and x["repeat"] == "0"),
  "stockouts": n_so, "stockout_alerted_at_event": at_event / max(n_so, 1),
  "predicted_before": before / max(n_so, 1),
}
# The σ-only rule for comparison: recall and false anomalies per 1,000
# clean points when every point with |z| ≥ k is reported.
inj = {(l["tenant"], l["series"], l["day"]) for l in labels["anomalies"]}
zi, zc = {}, []
for r in csv.DictReader(open(f"{a.out}/points.csv")):
    if r["z"] == "": continue
    k = (r["tenant"], r["series"], r["ts"])
    if k in inj: zi[k] = abs(float(r["z"]))
    if (r["tenant"], r["series"]) in clean and t(r["ts"]) >= warm: zc.append(abs(float(r["z"])))
res["sigma_only_by_threshold"] = {str(th): {"recall": round(sum(z >= th for z in zi.values()) / max(n_inj, 1), 3),
                                 "false_per_1000": round(1000 * sum(z >= th for z in zc) / max(len(zc), 1), 2)}
                       for th in (2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)}
print(json.dumps(res, indent=1))
