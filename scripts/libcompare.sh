#!/usr/bin/env bash
# Third-party Rust forecasting crates (augurs, anofox-forecast) on M4 Hourly,
# scored with the shared M4 scorer, for comparison with vigie's forecaster
# (scripts/m4_eval.sh).
#
#   scripts/libcompare.sh [OUT_DIR]          (default: eval/libcompare/out)
#
# Environment:
#   LIBCOMPARE_MODELS   space-separated models to run (default below; see
#                       `libcompare --help` for the full list; anofox-arima is
#                       left out by default: ~20 s per series)
#   LIBCOMPARE_TARGET   cargo target dir (default /root/.cache/libcompare-target)
#   EVAL_DIR            shared eval-dev folder (default ../shared/eval-dev)
#   INPUT               long CSV series_id,t,value (default
#                       eval-out/m4/hourly-train-long.csv, made by
#                       scripts/m4_eval.sh; converted here if missing)
#
# The crate at eval/libcompare is its own workspace, so the main CI never
# builds it. Each model runs single-threaded; the per-series time covers the
# library calls (fit and the 95% and 80% forecasts). A series on which the
# library fails gets a seasonal naive forecast and counts as a failure.
# Prints a markdown table: sMAPE / MASE / OWA from forecast_score.py, the
# share of test points inside the 95% and 80% intervals, and timings.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
crate=$here/eval/libcompare
eval_dir=${EVAL_DIR:-$here/../shared/eval-dev}
target=${LIBCOMPARE_TARGET:-/root/.cache/libcompare-target}
out=${1:-$crate/out}
input=${INPUT:-$here/eval-out/m4/hourly-train-long.csv}
models=${LIBCOMPARE_MODELS:-snaive augurs-ets augurs-mstl-ets anofox-autoets anofox-mstl anofox-mfles anofox-tbats anofox-theta}
horizon=48
test_csv=$eval_dir/m4/Dataset/Test/Hourly-test.csv
mkdir -p "$out"

if [[ ! -s $input ]]; then
  input=$out/hourly-train-long.csv
  python3 "$here/scripts/m4_long.py" "$eval_dir/m4/Dataset/Train/Hourly-train.csv" "$input"
fi

start=$(date +%s)
(cd "$crate" && CARGO_TARGET_DIR=$target nice -n 19 cargo build --release -j 2)
echo "build: $(( $(date +%s) - start )) s" >&2
bin=$target/release/libcompare

for model in $models; do
  echo "running $model ..." >&2
  "$bin" --input "$input" --model "$model" --horizon "$horizon" --level 0.95,0.8 \
    --output "$out/$model.csv" 2> "$out/$model.log"
  tail -n 5 "$out/$model.log" >&2
  python3 "$eval_dir/forecast_score.py" score --dataset m4-hourly --json "$out/$model.csv" \
    > "$out/$model.score.json"
done

python3 - "$out" "$test_csv" $models <<'PY'
import csv, json, re, sys

out, test_path, models = sys.argv[1], sys.argv[2], sys.argv[3:]
test = {}
with open(test_path) as f:
    rows = csv.reader(f)
    next(rows)  # header "V1","V2",...
    for row in rows:
        test[row[0]] = [float(x) for x in row[1:] if x != ""]


def coverage(path):
    """Share of test points inside each interval level present in the CSV."""
    with open(path) as f:
        rows = csv.DictReader(f)
        pairs = {"95": ("lower", "upper")}
        for name in rows.fieldnames:
            m = re.fullmatch(r"lower_(\S+)", name)
            if m:
                pairs[m.group(1)] = (name, "upper_" + m.group(1))
        hit = {k: 0 for k in pairs}
        n = {k: 0 for k in pairs}
        for r in rows:
            y = test[r["series_id"]][int(r["step"]) - 1]
            for k, (lo, hi) in pairs.items():
                if r.get(lo) and r.get(hi):
                    n[k] += 1
                    hit[k] += float(r[lo]) <= y <= float(r[hi])
    parts = ["%s%%: %.3f" % (k, hit[k] / n[k]) for k in pairs if n[k]]
    return " / ".join(parts) if parts else "n/a"


def timing(path):
    with open(path) as f:
        for line in f:
            if line.startswith("model="):
                return dict(kv.split("=", 1) for kv in line.split())
    return {}


print("| model | sMAPE | MASE | OWA | coverage | ms/series mean | p95 | failures |")
print("|---|---:|---:|---:|---|---:|---:|---:|")
for model in models:
    with open("%s/%s.score.json" % (out, model)) as f:
        s = json.load(f)
    t = timing("%s/%s.log" % (out, model))
    print("| %s | %.3f | %.3f | %.3f | %s | %.1f | %.1f | %s / %s |" % (
        model, s["sMAPE"], s["MASE"], s["OWA"], coverage("%s/%s.csv" % (out, model)),
        float(t.get("mean_ms", "nan")), float(t.get("p95_ms", "nan")),
        t.get("failures", "?"), t.get("series", "?")))
PY
