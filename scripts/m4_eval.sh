#!/usr/bin/env bash
# M4 Hourly through `vigie forecast`, scored with the shared M4 scorer.
#
#   scripts/m4_eval.sh [OUT_DIR]
#
# Converts the wide M4 training file to long CSV (series_id,t,value), runs
#   vigie forecast --horizon 48 --season 24,168 --exact-horizon --threads 1
# at the 80% and the 95% level, prints sMAPE / MASE / OWA against the
# published baselines, the empirical coverage of both intervals on the M4
# test values, which models were chosen, and the time per series (one
# thread: fit, model choice, back-tests and forecast).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
eval_dir=${EVAL_DIR:-$here/../shared/eval-dev}
out=${1:-$here/eval-out/m4}
mkdir -p "$out"
python3 "$here/scripts/m4_long.py" "$eval_dir/m4/Dataset/Train/Hourly-train.csv" "$out/hourly-train-long.csv"
cargo build --release --quiet --bin vigie
vigie="${CARGO_TARGET_DIR:-$here/target}/release/vigie"
for level in 0.80 0.95; do
  "$vigie" forecast --input "$out/hourly-train-long.csv" \
    --series-column series_id --ts-column t --value-column value \
    --horizon 48 --season 24,168 --exact-horizon --level "$level" --threads 1 \
    --output "$out/forecasts-$level.csv" 2> "$out/forecast-$level.log"
  echo "== level $level: $(tail -n 1 "$out/forecast-$level.log")"
done
python3 "$eval_dir/forecast_score.py" score --dataset m4-hourly "$out/forecasts-0.95.csv"
python3 - "$eval_dir/m4/Dataset/Test/Hourly-test.csv" "$out" <<'PY'
import collections, csv, sys
test = {}
with open(sys.argv[1]) as f:
    r = csv.reader(f); next(r)
    for row in r:
        test[row[0]] = [float(x) for x in row[1:] if x != ""]
for level in ("0.80", "0.95"):
    hit = n = 0
    models = collections.Counter()
    with open(f"{sys.argv[2]}/forecasts-{level}.csv") as f:
        for row in csv.DictReader(f):
            y = test[row["series_id"]][int(row["step"]) - 1]
            hit += float(row["lower"]) <= y <= float(row["upper"])
            n += 1
            if row["step"] == "1":
                models[row["model"]] += 1
    print(f"coverage of the {float(level):.0%} intervals: {hit / n:.1%} of {n} test values")
print("models chosen:", ", ".join(f"{m} {c}" for m, c in models.most_common()))
PY
