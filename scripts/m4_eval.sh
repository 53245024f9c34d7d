#!/usr/bin/env bash
# M4 Hourly through `vigie forecast`, scored with the shared M4 scorer.
#
#   scripts/m4_eval.sh [OUT_DIR]
#
# Converts the wide M4 training file to long CSV (series_id,t,value), runs
#   vigie forecast --horizon 48 --season 24 --exact-horizon
# and prints sMAPE / MASE / OWA against the published baselines.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
eval_dir=${EVAL_DIR:-$here/../shared/eval-dev}
out=${1:-$here/eval-out/m4}
mkdir -p "$out"
python3 - "$eval_dir/m4/Dataset/Train/Hourly-train.csv" "$out/hourly-train-long.csv" <<'PY'
import csv, sys
src, dst = sys.argv[1], sys.argv[2]
with open(src) as f, open(dst, "w", newline="") as g:
    r = csv.reader(f); next(r); w = csv.writer(g); w.writerow(["series_id", "t", "value"])
    for row in r:
        for i, v in enumerate(x for x in row[1:] if x != ""):
            w.writerow([row[0], i + 1, v])
PY
cargo build --release --quiet --bin vigie
start=$(date +%s.%N)
"${CARGO_TARGET_DIR:-$here/target}/release/vigie" forecast --input "$out/hourly-train-long.csv" \
  --series-column series_id --ts-column t --value-column value \
  --horizon 48 --season 24 --exact-horizon --output "$out/forecasts.csv" 2> "$out/forecast.log"
end=$(date +%s.%N)
echo "forecast time: $(echo "$end - $start" | bc) s for $(grep -c . "$out/forecast.log") log lines"
python3 "$eval_dir/forecast_score.py" score --dataset m4-hourly "$out/forecasts.csv"
