#!/usr/bin/env python3
"""Writes the input events of the golden scenarios (one NDJSON file each).

Run from this directory: python3 make_inputs.py. The expected outputs
(`*.expected.ndjson`) are written by the test with UPDATE_GOLDEN=1 and
reviewed by hand; the test also asserts the key facts of each scenario.
"""
import json, math, random
from datetime import datetime, timedelta, timezone

T0 = datetime(2025, 1, 6, tzinfo=timezone.utc)  # a Monday

def ts(day, hour=10, minute=0):
    return (T0 + timedelta(days=day, hours=hour, minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")

def stock(eid, t, mv, q, **kw):
    e = {"kind": "stock", "event_id": eid, "tenant": "shop", "ts": t, "site": "DKR-01", "sku": "RIZ-25KG", "movement": mv, "quantity": q}
    e.update(kw); return e

def spend(eid, t, amount, **kw):
    e = {"kind": "spend", "event_id": eid, "tenant": "treasury", "ts": t, "entity": "146014", "amount": amount, "currency": "MAD"}
    e.update(kw); return e

def write(name, events):
    with open(f"{name}.ndjson", "w") as f:
        for e in events: f.write(json.dumps(e, sort_keys=True) + "\n")

# stock_out: a count, sales that empty the shelf (the third), a receipt.
write("stock_out", [
    stock("so-1", ts(0, 8), "count", 10),
    stock("so-2", ts(0, 9), "sale", 4),
    stock("so-3", ts(0, 10), "sale", 6),
    stock("so-4", ts(0, 11), "sale", 0, requested=2),
    stock("so-5", ts(1, 8), "receipt", 20),
])

# low_stock against the reorder point given by the events.
write("low_stock", [stock("ls-1", ts(0, 8), "count", 50, reorder_point=20)]
      + [stock(f"ls-{i+2}", ts(0, 9 + i), "sale", 10) for i in range(4)]
      + [stock("ls-6", ts(1, 8), "receipt", 40)])

# predicted_stockout: 10 a day for five weeks with receipts, then none.
rng = random.Random(7); ev = [stock("ps-0", ts(0, 7), "count", 100, lead_time_days=7)]
for d in range(60):
    q = 10 + rng.choice([-2, -1, 0, 1, 2])
    ev.append(stock(f"ps-{d}-s", ts(d, 12), "sale", q))
    if d < 35 and d % 5 == 4:
        ev.append(stock(f"ps-{d}-r", ts(d, 18), "receipt", 50))
write("predicted_stockout", ev)

# service_rate_drop: full service for a week, then half.
ev = [stock("sr-0", ts(0, 7), "count", 10_000)]
for d in range(14):
    req = 10
    served = 10 if d < 7 else 5
    ev.append(stock(f"sr-{d}", ts(d, 12), "sale", served, requested=req))
write("service_rate_drop", ev)

# spend_anomaly: weekday/weekend spend with noise, one spike on day 50.
rng = random.Random(11); ev = []
week = [1.2, 1.1, 1.1, 1.1, 1.0, 0.4, 0.3]
for d in range(70):
    amount = 100_000 * week[d % 7] * math.exp(0.05 * rng.gauss(0, 1))
    if d == 50: amount *= 3
    ev.append(spend(f"sa-{d}", ts(d, 11), round(amount, 2)))
write("spend_anomaly", ev)

# spend_episode: a five-day anomaly (spend three times the usual on days
# 50-54): one alert, updated by repeats, not five.
rng = random.Random(13); ev = []
for d in range(75):
    amount = 100_000 * week[d % 7] * math.exp(0.05 * rng.gauss(0, 1))
    if 50 <= d < 55: amount *= 3
    ev.append(spend(f"se-{d}", ts(d, 11), round(amount, 2)))
write("spend_episode", ev)

# level_shift: a budget line doubles on day 50 and stays there: one alert,
# then the new level is the normal one.
rng = random.Random(17); ev = []
for d in range(110):
    amount = 100_000 * week[d % 7] * math.exp(0.05 * rng.gauss(0, 1))
    if d >= 50: amount *= 2
    ev.append(spend(f"sh-{d}", ts(d, 11), round(amount, 2)))
write("level_shift", ev)

# budget_overrun: a monthly budget that steady spend plus one big bill exceeds.
ev = []
for d in range(0, 56):
    amount = 10_000.0 + (250_000.0 if d == 40 else 0.0)
    ev.append(spend(f"bo-{d}", ts(d, 11), amount, budget=400_000.0))
write("budget_overrun", ev)

# late: day 0 and 1 events, then one for day 0 after its bucket closed.
write("late", [
    spend("lt-1", ts(0, 10), 100.0),
    spend("lt-2", ts(1, 10), 100.0),
    spend("lt-3", ts(0, 23, 59), 100.0),
    spend("lt-4", ts(1, 11), 100.0),
])
