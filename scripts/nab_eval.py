#!/usr/bin/env python3
"""NAB-style anomaly scoring and evaluation driver for vigie (standard library only).

Scores anomaly detectors on labelled streams with the rules of the Numenta
Anomaly Benchmark (Lavin & Ahmad 2015; NAB's nab/labeler.py, nab/sweeper.py,
nab/runner.py) and prints the normalised NAB scores as markdown.

Commands
--------
  # labelled directory: DIR/<name>.csv (timestamp,value), DIR/labels.json,
  # optionally DIR/kinds.json
  python3 scripts/nab_eval.py DIR                                 # null + gaussian
  python3 scripts/nab_eval.py DIR --vigie target/release/vigie --by-kind --json out.json
  python3 scripts/nab_eval.py DIR --vigie new=./vigie-new --vigie old=./vigie-old \\
          --vigie-arg=--season=24 --jobs 2
  python3 scripts/nab_eval.py DIR --scores-dir mine=/path/to/scores   # PATH/<name>.csv, column anomaly_score
  # SKAB (Skoltech Anomaly Benchmark) checkout or its data/ directory
  python3 scripts/nab_eval.py --skab SKAB/data --vigie target/release/vigie
  python3 scripts/nab_eval.py --self-test

Inputs
------
labels.json is NAB's combined_labels.json shape: {"<name>.csv": ["<RFC 3339
onset>", ...]}; an empty list means the stream has no anomaly; a stream whose
name is missing from labels.json is skipped with a warning. kinds.json
(optional) is {"<name>.csv": {"kind": "...", "resolution": "..."}}.

Detectors (one score in [0, 1] per input row, same order as the rows):
  null              always 0 (it never fires; normalises to 0).
  gaussian          NAB's windowedGaussian: mean and population σ of the last
                    W values seen before the current one (W = --gauss-window,
                    6400; once the window is full it slides by --gauss-step
                    = 100 values at a time, as NAB does; σ = 0 is replaced by
                    1e-6); score = 1 − Q(|x − μ|/σ) with Q the upper normal
                    tail (NAB's normalProbability), so scores lie in
                    [0.5, 1) after the first row (which scores 0). The
                    two-sided 1 − 2Q form is a monotone transform of it, so
                    both give the same NAB score under the threshold sweep.
                    Running sums over a deque, O(1) amortised per row.
  vigie:[NAME=]PATH  (or --vigie [NAME=]PATH, repeatable): runs
                    `PATH replay --input <csv> --output <tmp> --bucket raw
                    [--vigie-arg ...]` per stream and reads the column
                    anomaly_score of <tmp>/points.csv (one row per input row,
                    checked).
  scores:NAME=PATH  (or --scores-dir NAME=PATH): precomputed PATH/<name>.csv
                    with a column anomaly_score, one row per input row.

Rules (as NAB)
--------------
* Probation: the first min(floor(0.15·n), 0.15·5000 = 750) rows of a stream
  are not scored.
* Windows: window length = int(0.10·n / number of labels) rows; each label at
  row a gives rows [max(a − len//2, 0), min(a + len//2, n − 1)]. A window
  starting inside the probationary period is deleted (NAB's checkWindows;
  NAB checks only the first window, here every such window); overlapping or
  touching windows are merged.
* Sweep score of a scored row i (NAB calcSweepScore):
    inside a window [l, r] of width w = r − l + 1:
        TP weight = A_tp · S(−(r − i + 1)/w) / S(−1)   (1.0 at l, ≈0 at r)
    outside windows, after a window whose last row is p and width w:
        FP weight = A_fp · S(|p − i|/(w − 1))           (≈0 just after, → −1)
    outside windows, before any window: A_fp · (−1)
  with S(y) = 2/(1 + e^{5y}) − 1 (NAB's scaledSigmoid; S(y) = −1 for y ≥ 3).
* At threshold θ a row is a detection if score ≥ θ. A window scores the
  best (= earliest) detection inside it; a window without detection scores
  −A_fn; every detection outside windows adds its (negative) FP weight;
  further detections inside a window count neither way. A_tn is unused
  (as in NAB).
* Profiles (A_tp, A_fp, A_tn, A_fn): standard (1, 0.11, 1, 1),
  reward_low_FP_rate (1, 0.22, 1, 1), reward_low_FN_rate (1, 0.11, 1, 2).
* Threshold: one per detector and profile for the whole corpus, chosen to
  maximise the corpus's summed raw score. The sweep is exact, as NAB's: every
  distinct score value is a candidate, plus "never fire" (1.1, or above the
  largest score); ties go to the higher threshold.
* Normalised score = 100 · (raw − null) / (perfect − null) with
  null = −A_fn · windows (never fires) and perfect = A_tp · windows (every
  window detected at its first row, no FP). NAB counts labels for the
  perfect score; windows are counted here so that merged windows do not make
  100 unreachable (identical when no windows merge).
* --by-kind: the standard profile per kind (kinds.json; SKAB: valve1, valve2,
  other), each at the detector's corpus-wide standard threshold.
* --skab: every *.csv under valve1/, valve2/, other/ (anomaly-free excluded),
  ';'-separated: datetime, the sensor channels, anomaly, changepoint. Each
  channel is scored as its own stream; a file's score at a row is the max
  over its channels. Labels are the first rows of the runs of anomaly == 1.
  Also prints point-wise precision / recall / F1 against the anomaly column
  (scored rows only, i.e. after probation) at the standard threshold.

Output: markdown tables on stdout, progress on stderr, --json OUT for
everything machine-readable.
"""

import argparse
import bisect
import concurrent.futures
import csv
import json
import math
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import datetime, timezone

PROFILES = {
    # name: (A_tp, A_fp, A_tn, A_fn)
    "standard": (1.0, 0.11, 1.0, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 1.0, 2.0),
}
PROFILE_SHORT = {"standard": "standard", "reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}
PROBATION_PERCENT = 0.15
WINDOW_SIZE = 0.10


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class EvalError(Exception):
    """A user-facing error (bad input, a failing detector)."""


# --------------------------------------------------------------------------
# NAB rules


def scaled_sigmoid(y):
    """NAB's scaledSigmoid: 2·sigmoid(−5y) − 1, and −1 for y ≥ 3."""
    if y >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def probation_length(n):
    return int(min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000))


def nab_windows(n, label_rows, prob):
    """Windows (inclusive row ranges) from label rows; returns (windows, dropped)."""
    rows = sorted(set(label_rows))
    if not rows:
        return [], 0
    length = int(WINDOW_SIZE * n / len(rows))
    half = length // 2
    wins = [(max(a - half, 0), min(a + half, n - 1)) for a in rows]
    kept = [w for w in wins if w[0] >= prob]
    dropped = len(wins) - len(kept)
    merged = []
    for lo, hi in kept:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged, dropped


class Stream:
    """One scored stream: its windows and the unweighted sweep score of each row."""

    def __init__(self, name, n, label_rows, kind="", resolution="", values=None, path=None):
        self.name = name
        self.n = n
        self.label_rows = sorted(set(label_rows))
        self.kind = kind
        self.resolution = resolution
        self.values = values          # DIR mode: the values (gaussian)
        self.path = path              # DIR mode: the CSV (vigie)
        self.channels = None          # SKAB mode: [(channel name, values)]
        self.channel_paths = None     # SKAB mode: temp CSVs per channel
        self.timestamps = None        # SKAB mode: RFC 3339 strings
        self.anomaly = None           # SKAB mode: 0/1 per row
        self.prob = probation_length(n)
        self.windows, self.dropped = nab_windows(n, self.label_rows, self.prob)
        # wid[i]: window index of row i or -1; sw[i]: unweighted sweep score
        # (TP: S(pos)/S(−1) in (0, 1]; FP: S(pos past window) in [−1, 0)).
        wid = [-1] * n
        sw = [0.0] * n
        wins = self.windows
        wi = 0
        cur = None
        prev_right = prev_width = None
        for i in range(n):
            if cur is None and wi < len(wins) and i == wins[wi][0]:
                cur = wi
                left, right = wins[wi]
                width = float(right - left + 1)
                wi += 1
            if cur is not None:
                wid[i] = cur
                sw[i] = scaled_sigmoid(-(right - i + 1) / width) / MAX_TP
                if i == right:
                    prev_right, prev_width, cur = right, width, None
            elif prev_right is None:
                sw[i] = -1.0
            else:
                sw[i] = scaled_sigmoid(abs(prev_right - i) / max(prev_width - 1.0, 1.0))
        self.wid = wid
        self.sw = sw


class Parts:
    """Profile-independent parts of a raw score."""

    __slots__ = ("tp_sum", "ndet", "nwin", "fp_sum", "nfp")

    def __init__(self, tp_sum=0.0, ndet=0, nwin=0, fp_sum=0.0, nfp=0):
        self.tp_sum, self.ndet, self.nwin, self.fp_sum, self.nfp = tp_sum, ndet, nwin, fp_sum, nfp

    def add(self, o):
        self.tp_sum += o.tp_sum
        self.ndet += o.ndet
        self.nwin += o.nwin
        self.fp_sum += o.fp_sum
        self.nfp += o.nfp
        return self

    def raw(self, prof):
        a_tp, a_fp, _a_tn, a_fn = PROFILES[prof]
        return a_tp * self.tp_sum + a_fp * self.fp_sum - a_fn * (self.nwin - self.ndet)

    def null(self, prof):
        return -PROFILES[prof][3] * self.nwin

    def perfect(self, prof):
        return PROFILES[prof][0] * self.nwin

    def normalised(self, prof):
        null, perfect = self.null(prof), self.perfect(prof)
        if perfect == null:
            return None
        return 100.0 * (self.raw(prof) - null) / (perfect - null)


def score_at(st, sc, thr):
    """Parts of a stream's raw score at threshold thr (detection: score ≥ thr)."""
    best = [None] * len(st.windows)
    fp_sum, nfp = 0.0, 0
    wid, sw = st.wid, st.sw
    for i in range(st.prob, st.n):
        if sc[i] >= thr:
            w = wid[i]
            if w < 0:
                fp_sum += sw[i]
                nfp += 1
            else:
                b = best[w]
                if b is None or sw[i] > b:
                    best[w] = sw[i]
    det = [b for b in best if b is not None]
    return Parts(sum(det), len(det), len(best), fp_sum, nfp)


def never_threshold(score_lists):
    hi = max((max(s) for s in score_lists if s), default=0.0)
    return 1.1 if hi <= 1.0 else hi + 1.0


def sweep(streams, scores):
    """Exact NAB threshold sweep over the corpus.

    Returns ({profile: (threshold, raw)}, never) where threshold maximises the
    corpus raw score (ties: the higher threshold)."""
    pts = []
    base = 0
    for st in streams:
        sc, wid, sw = scores[st.name], st.wid, st.sw
        for i in range(st.prob, st.n):
            w = wid[i]
            pts.append((sc[i], base + w if w >= 0 else -1, sw[i]))
        base += len(st.windows)
    nwin = base
    pts.sort(key=lambda p: p[0], reverse=True)
    never = never_threshold([scores[st.name] for st in streams])
    profs = list(PROFILES)
    weights = [PROFILES[p] for p in profs]
    best = {}
    for p, (a_tp, a_fp, _tn, a_fn) in zip(profs, weights):
        best[p] = (never, -a_fn * nwin)
    best_tp = [None] * nwin
    tp_sum = fp_sum = 0.0
    ndet = 0
    cur = None

    def evaluate(thr):
        for p, (a_tp, a_fp, _tn, a_fn) in zip(profs, weights):
            raw = a_tp * tp_sum + a_fp * fp_sum - a_fn * (nwin - ndet)
            if raw > best[p][1] + 1e-9:
                best[p] = (thr, raw)

    for score, w, v in pts:
        if score != cur:
            if cur is not None:
                evaluate(cur)
            cur = score
        if w < 0:
            fp_sum += v
        else:
            b = best_tp[w]
            if b is None:
                best_tp[w] = v
                tp_sum += v
                ndet += 1
            elif v > b:
                tp_sum += v - b
                best_tp[w] = v
    if cur is not None:
        evaluate(cur)
    return best, never


# --------------------------------------------------------------------------
# Detectors


def gaussian_scores(values, window=6400, step=100):
    """NAB windowedGaussian; O(1) amortised per row (shifted running sums)."""
    out = []
    data = deque()
    buf = []
    k = None            # shift: sums are of (x − k), for precision
    s1 = s2 = 0.0
    mean, std = 0.0, 1.0
    slides = 0
    sqrt2 = math.sqrt(2.0)

    def stats():
        nonlocal mean, std
        n = len(data)
        m = s1 / n
        var = s2 / n - m * m
        mean = k + m
        std = math.sqrt(var) if var > 0.0 else 0.0
        if std == 0.0:
            std = 0.000001

    for x in values:
        if data:
            z = abs(x - mean) / std
            out.append(1.0 - 0.5 * math.erfc(z / sqrt2))
        else:
            out.append(0.0)
        if k is None:
            k = x
        if len(data) < window:
            data.append(x)
            d = x - k
            s1 += d
            s2 += d * d
            stats()
        else:
            buf.append(x)
            if len(buf) == step:
                for _ in range(step):
                    d = data.popleft() - k
                    s1 -= d
                    s2 -= d * d
                for y in buf:
                    data.append(y)
                    d = y - k
                    s1 += d
                    s2 += d * d
                buf = []
                slides += 1
                if slides % 64 == 0:   # re-anchor: no drift from the subtractions
                    k = data[0]
                    s1 = math.fsum(y - k for y in data)
                    s2 = math.fsum((y - k) * (y - k) for y in data)
                stats()
    return out


def read_score_column(path, column="anomaly_score"):
    with open(path, newline="") as f:
        r = csv.reader(f)
        try:
            header = next(r)
        except StopIteration:
            raise EvalError(f"{path}: empty file")
        if column not in header:
            raise EvalError(f"{path}: no column {column!r} (columns: {', '.join(header)})")
        j = header.index(column)
        out = []
        for ln, row in enumerate(r, start=2):
            if not row:
                continue
            v = row[j].strip() if j < len(row) else ""
            try:
                out.append(float(v) if v else 0.0)
            except ValueError:
                raise EvalError(f"{path}:{ln}: {column} {v!r} is not a number")
    return out


class Detector:
    parallel = False

    def __init__(self, name):
        self.name = name

    def stream_scores(self, st, ctx):
        """Scores of a stream: one series, or the max over its channels."""
        if st.channels is None:
            return self.series_scores(st, None, st.values, st.path, ctx)
        combined = None
        for ci, (ch, vals) in enumerate(st.channels):
            path = ctx.channel_path(st, ci) if self.needs_path else None
            s = self.series_scores(st, ch, vals, path, ctx)
            combined = s if combined is None else [a if a >= b else b for a, b in zip(combined, s)]
        return combined

    needs_path = False


class NullDetector(Detector):
    def stream_scores(self, st, ctx):
        return [0.0] * st.n


class GaussianDetector(Detector):
    def __init__(self, name, window, step):
        super().__init__(name)
        self.window, self.step = window, step

    def series_scores(self, st, channel, values, path, ctx):
        return gaussian_scores(values, self.window, self.step)


class VigieDetector(Detector):
    parallel = True
    needs_path = True

    def __init__(self, name, binary, extra):
        super().__init__(name)
        self.binary, self.extra = binary, list(extra)

    def series_scores(self, st, channel, values, path, ctx):
        stem = st.name[:-4] if st.name.endswith(".csv") else st.name
        stem = stem.replace("/", "__").replace(os.sep, "__")
        if channel is not None:
            stem += "__" + "".join(c if c.isalnum() else "_" for c in channel)
        out = os.path.join(ctx.work, "vigie_" + "".join(c if c.isalnum() else "_" for c in self.name), stem)
        os.makedirs(out, exist_ok=True)
        cmd = [self.binary, "replay", "--input", path, "--output", out, "--bucket", "raw"] + self.extra
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            raise EvalError(f"vigie {self.name!r}: cannot run {self.binary}: {e}")
        what = st.name + (f" channel {channel}" if channel else "")
        if p.returncode != 0:
            tail = "\n".join(p.stderr.strip().splitlines()[-40:])
            raise EvalError(f"vigie {self.name!r} failed on stream {what} (exit {p.returncode}):\n"
                            f"  {' '.join(cmd)}\n{tail}")
        pts = os.path.join(out, "points.csv")
        if not os.path.exists(pts):
            raise EvalError(f"vigie {self.name!r} on stream {what}: no {pts}")
        sc = read_score_column(pts)
        if len(sc) != st.n:
            raise EvalError(f"vigie {self.name!r} on stream {what}: points.csv has {len(sc)} rows, "
                            f"the input has {st.n} (one point per input row expected with --bucket raw)")
        return sc


class ScoresDirDetector(Detector):
    def __init__(self, name, root):
        super().__init__(name)
        self.root = root

    def stream_scores(self, st, ctx):
        path = os.path.join(self.root, st.name)
        if not os.path.exists(path):
            raise EvalError(f"scores {self.name!r}: no file {path} for stream {st.name}")
        sc = read_score_column(path)
        if len(sc) != st.n:
            raise EvalError(f"scores {self.name!r} on stream {st.name}: {path} has {len(sc)} rows, "
                            f"the input has {st.n}")
        return sc


class Context:
    def __init__(self, work):
        self.work = work

    def channel_path(self, st, ci):
        if st.channel_paths is None:
            st.channel_paths = [None] * len(st.channels)
        if st.channel_paths[ci] is None:
            d = os.path.join(self.work, "skab_channels")
            os.makedirs(d, exist_ok=True)
            stem = st.name[:-4].replace("/", "__")
            ch = "".join(c if c.isalnum() else "_" for c in st.channels[ci][0])
            path = os.path.join(d, f"{stem}__{ch}.csv")
            with open(path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["timestamp", "value"])
                for t, v in zip(st.timestamps, st.channels[ci][1]):
                    w.writerow([t, repr(v)])
            st.channel_paths[ci] = path
        return st.channel_paths[ci]


def split_named(spec, default):
    if "=" in spec:
        name, path = spec.split("=", 1)
        return name, path
    return default, spec


def build_detectors(args):
    dets = []
    names = set()

    def add(d):
        if d.name in names:
            raise EvalError(f"two detectors named {d.name!r}; name them (NAME=PATH)")
        names.add(d.name)
        dets.append(d)

    for tok in [t.strip() for t in (args.detectors or "").split(",") if t.strip()]:
        if tok == "null":
            add(NullDetector("null"))
        elif tok == "gaussian":
            add(GaussianDetector("gaussian", args.gauss_window, args.gauss_step))
        elif tok.startswith("vigie:"):
            name, path = split_named(tok[6:], "vigie")
            add(VigieDetector(name, path, args.vigie_arg))
        elif tok.startswith("scores:"):
            name, path = split_named(tok[7:], None)
            if name is None:
                raise EvalError(f"--detectors {tok}: use scores:NAME=PATH")
            add(ScoresDirDetector(name, path))
        else:
            raise EvalError(f"unknown detector {tok!r} (null, gaussian, vigie:[NAME=]PATH, scores:NAME=PATH)")
    for spec in args.vigie:
        name, path = split_named(spec, "vigie")
        add(VigieDetector(name, path, args.vigie_arg))
    for spec in args.scores_dir:
        name, path = split_named(spec, None)
        if name is None:
            raise EvalError(f"--scores-dir {spec}: use NAME=PATH")
        add(ScoresDirDetector(name, path))
    for d in dets:
        if isinstance(d, ScoresDirDetector) and not os.path.isdir(d.root):
            raise EvalError(f"scores {d.name!r}: {d.root} is not a directory")
    for d in dets:
        if isinstance(d, VigieDetector):
            if not (os.path.isfile(d.binary) and os.access(d.binary, os.X_OK)) and shutil.which(d.binary) is None:
                raise EvalError(f"vigie {d.name!r}: {d.binary} is not an executable file")
            d.binary = os.path.abspath(d.binary) if os.path.isfile(d.binary) else d.binary
    return dets


# --------------------------------------------------------------------------
# Inputs


def parse_ts(s):
    s = s.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s.replace(" ", "T", 1) if "T" not in s else s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def read_series_csv(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        try:
            header = [h.strip() for h in next(r)]
        except StopIteration:
            raise EvalError(f"{path}: empty file")
        low = [h.lower() for h in header]
        it = low.index("timestamp") if "timestamp" in low else 0
        iv = low.index("value") if "value" in low else 1
        ts, vals = [], []
        for ln, row in enumerate(r, start=2):
            if not row:
                continue
            try:
                vals.append(float(row[iv]))
            except (ValueError, IndexError):
                raise EvalError(f"{path}:{ln}: value {row[iv] if iv < len(row) else ''!r} is not a number")
            ts.append(row[it].strip())
    return ts, vals


def label_rows_for(name, ts, labels):
    """Row index of each label timestamp (exact match, else the first later row)."""
    index = {t: i for i, t in enumerate(ts)}
    parsed = None
    rows = []
    for lab in labels:
        if lab in index:
            rows.append(index[lab])
            continue
        if parsed is None:
            parsed = [parse_ts(t) for t in ts]
        x = parse_ts(lab)
        j = bisect.bisect_left(parsed, x)
        if j < len(parsed) and parsed[j] == x:
            rows.append(j)
        elif j < len(parsed):
            log(f"warning: {name}: label {lab} is no row's timestamp; using the next row {ts[j]}")
            rows.append(j)
        else:
            log(f"warning: {name}: label {lab} is after the last row; ignored")
    return rows


def load_dir(d):
    lp = os.path.join(d, "labels.json")
    if not os.path.exists(lp):
        raise EvalError(f"{lp} not found")
    with open(lp) as f:
        labels = json.load(f)
    kinds = {}
    kp = os.path.join(d, "kinds.json")
    if os.path.exists(kp):
        with open(kp) as f:
            kinds = json.load(f)
    names = sorted(n for n in os.listdir(d) if n.endswith(".csv"))
    missing = [n for n in labels if n not in names]
    if missing:
        log(f"warning: {len(missing)} stream(s) in labels.json have no CSV, e.g. {missing[0]}")
    streams = []
    for name in names:
        if name not in labels:
            log(f"warning: {name} is not in labels.json; skipped")
            continue
        path = os.path.join(d, name)
        ts, vals = read_series_csv(path)
        rows = label_rows_for(name, ts, labels[name])
        k = kinds.get(name, {})
        streams.append(Stream(name, len(vals), rows, k.get("kind", ""), k.get("resolution", ""), vals, path))
    if not streams:
        raise EvalError(f"no labelled streams in {d}")
    return streams


def load_skab(root):
    base = root
    subs = ("valve1", "valve2", "other")
    if not any(os.path.isdir(os.path.join(root, s)) for s in subs) and os.path.isdir(os.path.join(root, "data")):
        base = os.path.join(root, "data")
    files = []
    for s in subs:
        top = os.path.join(base, s)
        for dp, _dn, fn in os.walk(top):
            for f in fn:
                p = os.path.join(dp, f)
                if f.endswith(".csv") and "anomaly-free" not in os.path.relpath(p, base):
                    files.append(p)
    if not files:
        raise EvalError(f"no SKAB CSVs under {base}/{{valve1,valve2,other}}")

    def sort_key(p):
        rel = os.path.relpath(p, base)
        stem = os.path.splitext(os.path.basename(rel))[0]
        return (os.path.dirname(rel), int(stem) if stem.isdigit() else 1 << 30, stem)

    streams = []
    for p in sorted(files, key=sort_key):
        rel = os.path.relpath(p, base).replace(os.sep, "/")
        with open(p, newline="") as f:
            r = csv.reader(f, delimiter=";")
            header = [h.strip() for h in next(r)]
            try:
                idt, ian = header.index("datetime"), header.index("anomaly")
            except ValueError:
                raise EvalError(f"{p}: SKAB header needs datetime and anomaly columns: {header}")
            skip = {idt, ian}
            if "changepoint" in header:
                skip.add(header.index("changepoint"))
            chans = [(i, h) for i, h in enumerate(header) if i not in skip]
            ts, an = [], []
            cols = [[] for _ in chans]
            for ln, row in enumerate(r, start=2):
                if not row:
                    continue
                dt = datetime.fromisoformat(row[idt].strip().replace(" ", "T", 1))
                if dt.tzinfo is not None:
                    dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
                ts.append(dt.isoformat() + "Z")
                an.append(1 if float(row[ian]) >= 0.5 else 0)
                for c, (i, _h) in zip(cols, chans):
                    c.append(float(row[i]))
        onsets = [i for i in range(len(an)) if an[i] == 1 and (i == 0 or an[i - 1] == 0)]
        st = Stream(rel, len(an), onsets, kind=rel.split("/")[0], resolution="1s")
        st.channels = [(h, c) for (_i, h), c in zip(chans, cols)]
        st.timestamps = ts
        st.anomaly = an
        streams.append(st)
    return streams


# --------------------------------------------------------------------------
# Evaluation


def compute_scores(det, streams, ctx, jobs, every):
    t0 = time.time()
    scores = {}

    def one(st):
        sc = det.stream_scores(st, ctx)
        if len(sc) != st.n:
            raise EvalError(f"detector {det.name!r} on stream {st.name}: {len(sc)} scores for {st.n} rows")
        for v in sc:
            if v != v:
                raise EvalError(f"detector {det.name!r} on stream {st.name}: NaN score")
        return sc

    if det.parallel and jobs > 1:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
            results = ex.map(one, streams)
            for k, (st, sc) in enumerate(zip(streams, results), start=1):
                scores[st.name] = sc
                if every and (k % every == 0 or k == len(streams)):
                    log(f"[{det.name}] {k}/{len(streams)} streams ({time.time() - t0:.1f}s)")
    else:
        for k, st in enumerate(streams, start=1):
            scores[st.name] = one(st)
            if every and (k % every == 0 or k == len(streams)) and not isinstance(det, NullDetector):
                log(f"[{det.name}] {k}/{len(streams)} streams ({time.time() - t0:.1f}s)")
    lo = min(min(s) for s in scores.values() if s) if any(scores.values()) else 0.0
    hi = max(max(s) for s in scores.values() if s) if any(scores.values()) else 0.0
    if lo < 0.0 or hi > 1.0:
        log(f"warning: detector {det.name!r} scores span [{lo:g}, {hi:g}], outside [0, 1]")
    return scores


def evaluate_detector(streams, scores):
    t0 = time.time()
    best, never = sweep(streams, scores)
    res = {"never_threshold": never, "profiles": {}, "sweep_seconds": None}
    per_stream_std = None
    for prof in PROFILES:
        thr, sweep_raw = best[prof]
        total = Parts()
        parts = {}
        for st in streams:
            p = score_at(st, scores[st.name], thr)
            parts[st.name] = p
            total.add(p)
        raw = total.raw(prof)
        assert abs(raw - sweep_raw) < 1e-6 * max(1.0, abs(raw)), (prof, raw, sweep_raw)
        res["profiles"][prof] = {
            "threshold": thr, "never_fires": thr == never, "raw": raw,
            "null_raw": total.null(prof), "perfect_raw": total.perfect(prof),
            "score": total.normalised(prof),
            "tp_windows": total.ndet, "fn_windows": total.nwin - total.ndet, "fp_detections": total.nfp,
        }
        if prof == "standard":
            per_stream_std = parts
    res["sweep_seconds"] = time.time() - t0
    res["_std_parts"] = per_stream_std
    return res


def by_kind(streams, std_parts):
    kinds = {}
    for st in streams:
        k = st.kind or "(none)"
        kinds.setdefault(k, Parts()).add(std_parts[st.name])
    out = {}
    for k, p in sorted(kinds.items()):
        out[k] = {"score": p.normalised("standard"), "raw": p.raw("standard"), "windows": p.nwin,
                  "tp_windows": p.ndet, "fp_detections": p.nfp}
    return out


def prf(streams, scores, thr):
    tp = fp = fn = 0
    for st in streams:
        sc, an = scores[st.name], st.anomaly
        for i in range(st.prob, st.n):
            d = sc[i] >= thr
            if d and an[i]:
                tp += 1
            elif d:
                fp += 1
            elif an[i]:
                fn += 1
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def fmt_thr(t, never):
    return "never" if t == never else f"{t:.10g}"


def fmt_score(s):
    return "n/a" if s is None else f"{s:.2f}"


def corpus_summary(streams):
    return {
        "streams": len(streams),
        "rows": sum(st.n for st in streams),
        "scored_rows": sum(st.n - st.prob for st in streams),
        "labels": sum(len(st.label_rows) for st in streams),
        "windows": sum(len(st.windows) for st in streams),
        "windows_dropped_in_probation": sum(st.dropped for st in streams),
        "streams_without_windows": sum(1 for st in streams if not st.windows),
    }


def run(streams, dets, args, skab=False):
    summ = corpus_summary(streams)
    log(f"corpus: {summ['streams']} streams, {summ['rows']} rows ({summ['scored_rows']} scored), "
        f"{summ['labels']} labels -> {summ['windows']} windows"
        + (f" ({summ['windows_dropped_in_probation']} dropped: start inside probation)"
           if summ["windows_dropped_in_probation"] else ""))
    if summ["windows"] == 0:
        raise EvalError("no scorable anomaly windows in the corpus: normalised scores are undefined")
    own_work = args.work is None
    work = tempfile.mkdtemp(prefix="nab_eval.") if own_work else args.work
    os.makedirs(work, exist_ok=True)
    ctx = Context(work)
    results = {}
    all_scores = {}
    try:
        for det in dets:
            sc = compute_scores(det, streams, ctx, args.jobs, args.progress)
            r = evaluate_detector(streams, sc)
            r["by_kind"] = by_kind(streams, r["_std_parts"])
            r["per_stream_standard"] = {
                name: {"raw": p.raw("standard"), "windows": p.nwin, "tp_windows": p.ndet,
                       "fp_detections": p.nfp, "score": p.normalised("standard")}
                for name, p in r.pop("_std_parts").items()}
            if skab:
                r["pointwise_at_standard"] = prf(streams, sc, r["profiles"]["standard"]["threshold"])
            results[det.name] = r
            all_scores[det.name] = sc
            s = r["profiles"]
            log(f"[{det.name}] standard {fmt_score(s['standard']['score'])}, "
                f"low FP {fmt_score(s['reward_low_FP_rate']['score'])}, "
                f"low FN {fmt_score(s['reward_low_FN_rate']['score'])} (sweep {r['sweep_seconds']:.1f}s)")
    finally:
        if own_work and not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        elif dets:
            log(f"work directory kept: {work}")
    print_tables(summ, streams, dets, results, args, skab)
    if args.json:
        doc = {"corpus": summ, "mode": "skab" if skab else "dir", "input": args.skab or args.dir,
               "profiles": {k: dict(zip(("tp", "fp", "tn", "fn"), v)) for k, v in PROFILES.items()},
               "rules": {"probation": "min(floor(0.15*n), 750) rows", "window": "int(0.10*n/labels) rows, centred",
                         "normalisation": "100*(raw-null)/(perfect-null), null=-A_fn*windows, perfect=A_tp*windows"},
               "detectors": results}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=False)
        log(f"wrote {args.json}")
    return results


def print_tables(summ, streams, dets, results, args, skab):
    print(f"NAB scores: {summ['streams']} streams, {summ['rows']} rows, {summ['windows']} windows"
          + (f", {summ['windows_dropped_in_probation']} windows dropped (probation)"
             if summ["windows_dropped_in_probation"] else "") + "\n")
    print("| detector | standard | low FP | low FN | threshold standard | threshold low FP | threshold low FN "
          "| TP windows | FN windows | FP detections |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d in dets:
        r = results[d.name]
        p = r["profiles"]
        nv = r["never_threshold"]
        s = p["standard"]
        print(f"| {d.name} | {fmt_score(s['score'])} | {fmt_score(p['reward_low_FP_rate']['score'])} "
              f"| {fmt_score(p['reward_low_FN_rate']['score'])} | {fmt_thr(s['threshold'], nv)} "
              f"| {fmt_thr(p['reward_low_FP_rate']['threshold'], nv)} "
              f"| {fmt_thr(p['reward_low_FN_rate']['threshold'], nv)} "
              f"| {s['tp_windows']} | {s['fn_windows']} | {s['fp_detections']} |")
    if args.by_kind:
        kinds = sorted({st.kind or "(none)" for st in streams})
        nwin = {k: sum(len(st.windows) for st in streams if (st.kind or "(none)") == k) for k in kinds}
        nst = {k: sum(1 for st in streams if (st.kind or "(none)") == k) for k in kinds}
        print("\nStandard profile by kind (corpus-wide standard threshold; "
              "a kind without windows shows its raw FP penalty):\n")
        print("| detector | " + " | ".join(f"{k} ({nst[k]} streams, {nwin[k]} windows)" for k in kinds) + " |")
        print("|---|" + "---:|" * len(kinds))
        for d in dets:
            bk = results[d.name]["by_kind"]
            cells = []
            for k in kinds:
                c = bk[k]
                cells.append(fmt_score(c["score"]) if c["score"] is not None else f"raw {c['raw']:.2f}")
            print(f"| {d.name} | " + " | ".join(cells) + " |")
    if skab:
        print("\nPoint-wise against the anomaly column (scored rows), at the standard threshold:\n")
        print("| detector | precision | recall | F1 | TP | FP | FN |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for d in dets:
            q = results[d.name]["pointwise_at_standard"]
            print(f"| {d.name} | {q['precision']:.3f} | {q['recall']:.3f} | {q['f1']:.3f} "
                  f"| {q['tp']} | {q['fp']} | {q['fn']} |")


# --------------------------------------------------------------------------
# Self-test


def self_test():
    checks = 0

    def check(cond, msg):
        nonlocal checks
        if not cond:
            raise AssertionError(msg)
        checks += 1

    def close(a, b, tol=1e-9):
        return a is not None and b is not None and abs(a - b) <= tol

    # scaledSigmoid against NAB's documented values.
    check(close(scaled_sigmoid(-1.0), 0.98661, 1e-5), "S(-1)")
    check(close(scaled_sigmoid(-0.5), 0.84828, 1e-5), "S(-0.5)")
    check(scaled_sigmoid(0.0) == 0.0 and scaled_sigmoid(3.0) == -1.0, "S(0), S(3)")
    check(close(scaled_sigmoid(1.0), -0.98661, 1e-5), "S(1)")
    check(probation_length(1000) == 150 and probation_length(10000) == 750, "probation")

    # Windows: n = 1000, probation 150.
    A = Stream("a.csv", 1000, [400, 700], "k1")    # len int(100/2)=50 → ±25
    B = Stream("b.csv", 1000, [500], "k1")          # len 100 → ±50
    C = Stream("c.csv", 1000, [], "k2")             # no anomaly
    D = Stream("d.csv", 1000, [100, 800], "k2")     # first window inside probation: dropped
    E = Stream("e.csv", 1000, [600, 620], "k2")     # overlapping: merged
    check(A.windows == [(375, 425), (675, 725)], f"A windows {A.windows}")
    check(B.windows == [(450, 550)], f"B windows {B.windows}")
    check(C.windows == [] and D.windows == [(775, 825)] and D.dropped == 1, f"D windows {D.windows}")
    check(E.windows == [(575, 645)], f"E windows {E.windows}")
    check(close(A.sw[375], 1.0) and 0 < A.sw[425] < 0.1 and A.wid[400] == 0 and A.wid[700] == 1, "TP weights")
    check(A.sw[200] == -1.0 and -0.1 < A.sw[426] < 0 and A.sw[426] > A.sw[500], "FP weights")
    streams = [A, B, C, D, E]
    nwin = sum(len(s.windows) for s in streams)
    check(nwin == 5, "window count")

    def det(fire):
        return {st.name: [1.0 if i in fire(st) else 0.0 for i in range(st.n)] for st in streams}

    def norm_at(scores, thr, prof):
        total = Parts()
        for st in streams:
            total.add(score_at(st, scores[st.name], thr))
        return total.normalised(prof)

    def swept(scores):
        return evaluate_detector(streams, scores)["profiles"]

    null = {st.name: [0.0] * st.n for st in streams}
    for prof, r in swept(null).items():
        check(close(r["score"], 0.0) and r["never_fires"], f"null {prof}: {r['score']}")
    perfect = det(lambda st: {w[0] for w in st.windows})
    for prof, r in swept(perfect).items():
        check(close(r["score"], 100.0), f"perfect {prof}: {r['score']}")
    late = det(lambda st: {w[1] for w in st.windows})
    mid = det(lambda st: {(w[0] + w[1]) // 2 for w in st.windows})
    for prof in PROFILES:
        sl, sm = swept(late)[prof]["score"], swept(mid)[prof]["score"]
        check(0.0 < sl < sm < 100.0, f"late {sl} < mid {sm} < perfect ({prof})")
    # Only the first detection in a window counts; more inside do not cost.
    extra = det(lambda st: {i for w in st.windows for i in range(w[0], w[1] + 1)})
    check(close(swept(extra)["standard"]["score"], 100.0), "extra detections inside windows are free")
    # FP only, at a fixed threshold: below 0, lower still for low FP.
    fponly = det(lambda st: {200, 300, 960} if st.name in ("a.csv", "c.csv") else set())
    s_std, s_lfp = norm_at(fponly, 0.5, "standard"), norm_at(fponly, 0.5, "reward_low_FP_rate")
    check(s_std < 0.0 and s_lfp < s_std, f"FP-only: standard {s_std}, low FP {s_lfp}")
    check(close(s_std, -100 * 0.11 * 6 / 10, 1e-2), f"FP-only standard value {s_std}")
    # Under the sweep an FP-only detector never fires → 0.
    check(close(swept(fponly)["standard"]["score"], 0.0), "FP-only swept")
    # An FP right after a window costs less than one far from it.
    near = det(lambda st: {st.windows[0][1] + 2} if st.name == "b.csv" else set())
    far = det(lambda st: {st.windows[0][1] + 300} if st.name == "b.csv" else set())
    check(norm_at(near, 0.5, "standard") > norm_at(far, 0.5, "standard"), "near FP cheaper")
    # 3 of 5 windows at their first row, no FP: (3 - 2 + 5) / 10 and (3 - 4 + 10) / 15.
    part = det(lambda st: {w[0] for w in st.windows} if st.name in ("a.csv", "b.csv") else set())
    pr = swept(part)
    check(close(pr["standard"]["score"], 60.0) and close(pr["reward_low_FN_rate"]["score"], 60.0),
          f"3 of 5 windows: {pr}")

    # The sweep equals a brute force over every candidate threshold.
    rng = random.Random(7)
    for trial in range(3):
        rnd = {st.name: [round(rng.random() ** 3, 2) for _ in range(st.n)] for st in streams}
        for i in (375, 680, 460):
            rnd["a.csv"][i] = 0.99
        res = sweep(streams, rnd)[0]
        cands = sorted({v for s in rnd.values() for v in s} | {1.1}, reverse=True)
        for prof in PROFILES:
            bt, br = None, -1e18
            for t in cands:
                tot = Parts()
                for st in streams:
                    tot.add(score_at(st, rnd[st.name], t))
                r = tot.raw(prof)
                if r > br + 1e-9:
                    bt, br = t, r
            check(res[prof][0] == bt and close(res[prof][1], br, 1e-6),
                  f"sweep {res[prof]} vs brute force {(bt, br)} ({prof}, trial {trial})")

    # Gaussian: against a direct (numpy-like) implementation, with sliding.
    def gauss_ref(values, window, step):
        wd, sb, out, mean, std = [], [], [], 0.0, 1.0
        for x in values:
            out.append(1 - 0.5 * math.erfc(abs(x - mean) / std / math.sqrt(2)) if wd else 0.0)
            if len(wd) < window:
                wd.append(x)
                upd = True
            else:
                sb.append(x)
                upd = len(sb) == step
                if upd:
                    wd = wd[step:] + sb
                    sb = []
            if upd:
                mean = sum(wd) / len(wd)
                std = math.sqrt(sum((y - mean) ** 2 for y in wd) / len(wd)) or 0.000001
        return out

    vals = [1000.0 + 10 * math.sin(i / 7.0) + rng.gauss(0, 1) for i in range(3000)]
    vals[2000] += 80
    got, ref = gaussian_scores(vals, 200, 20), gauss_ref(vals, 200, 20)
    check(max(abs(a - b) for a, b in zip(got, ref)) < 1e-7, "gaussian vs reference")
    check(got[2000] > 0.999999 and got[0] == 0.0 and min(got[1:]) >= 0.5, "gaussian range/spike")
    check(gaussian_scores([5.0] * 10)[1:] == [0.5] * 9, "gaussian constant")
    check(gaussian_scores([5.0] * 10 + [5.1])[-1] == 1.0, "gaussian after constant")

    # Files: a labelled directory, a fake vigie, a scores dir, SKAB.
    tmp = tempfile.mkdtemp(prefix="nab_eval_selftest.")
    try:
        d = os.path.join(tmp, "corpus")
        os.makedirs(d)
        labels, kinds = {}, {}
        t0 = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()

        def rfc(t):
            return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        for s in range(4):
            n = 1200
            v = [50.0 + 5 * math.sin(i / 20.0) + rng.gauss(0, 0.5) for i in range(n)]
            labs = []
            if s < 3:
                at = 500 + 150 * s
                v[at] += 60
                labs.append(rfc(t0 + 300 * at))
            with open(os.path.join(d, f"s{s}.csv"), "w") as f:
                f.write("timestamp,value\n")
                for i, x in enumerate(v):
                    f.write(f"{rfc(t0 + 300 * i)},{x:.4f}\n")
            labels[f"s{s}.csv"] = labs
            kinds[f"s{s}.csv"] = {"kind": "spiky" if s % 2 else "smooth", "resolution": "5m"}
        json.dump(labels, open(os.path.join(d, "labels.json"), "w"))
        json.dump(kinds, open(os.path.join(d, "kinds.json"), "w"))
        st = load_dir(d)
        check([x.label_rows for x in st] == [[500], [650], [800], []], "labels → rows")
        check(st[0].windows == [(440, 560)], f"file windows {st[0].windows}")
        g = evaluate_detector(st, {x.name: gaussian_scores(x.values) for x in st})["profiles"]
        check(g["standard"]["score"] > 50 and g["standard"]["tp_windows"] == 3, f"gaussian on spikes {g['standard']}")

        fake = os.path.join(tmp, "fake_vigie")
        with open(fake, "w") as f:
            f.write(f"#!{sys.executable}\n" + r'''
import csv, os, sys
a = sys.argv
assert a[1] == "replay", a
inp, out = a[a.index("--input") + 1], a[a.index("--output") + 1]
assert a[a.index("--bucket") + 1] == "raw"
if "--fail" in a:
    sys.stderr.write("boom: bad input\n"); sys.exit(3)
rows = list(csv.DictReader(open(inp)))
if "--short" in a:
    rows = rows[:-1]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "points.csv"), "w") as f:
    f.write("id,tenant,series,kind,ts,value,z,anomaly_score\n")
    for i, r in enumerate(rows):
        f.write("%d,default,s,metric,%s,%s,,%s\n" % (i, r["timestamp"], r["value"], "0.9" if i % 97 == 0 else "0.1"))
''')
        os.chmod(fake, os.stat(fake).st_mode | stat.S_IEXEC)
        ctx = Context(tmp)
        sc = VigieDetector("fake", fake, []).stream_scores(st[0], ctx)
        check(len(sc) == st[0].n and sc[0] == 0.9 and sc[1] == 0.1, "fake vigie scores")
        for flag, want in (("--fail", "exit 3"), ("--short", "1199 rows")):
            try:
                VigieDetector("fake", fake, [flag]).stream_scores(st[0], ctx)
                check(False, f"vigie {flag} should fail")
            except EvalError as e:
                check(want in str(e) and "s0.csv" in str(e) and (flag != "--fail" or "boom" in str(e)), str(e))

        sd = os.path.join(tmp, "scores")
        os.makedirs(sd)
        for x in st:
            with open(os.path.join(sd, x.name), "w") as f:
                f.write("timestamp,anomaly_score\n" + "".join(f"t,{0.5}\n" for _ in range(x.n)))
        check(ScoresDirDetector("sd", sd).stream_scores(st[1], ctx) == [0.5] * st[1].n, "scores dir")

        sk = os.path.join(tmp, "skab", "data")
        os.makedirs(os.path.join(sk, "valve1"))
        os.makedirs(os.path.join(sk, "anomaly-free"))
        hdr = ("datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;"
               "Thermocouple;Voltage;Volume Flow RateRMS;anomaly;changepoint\n")
        for fn in ("0.csv", os.path.join("..", "anomaly-free", "anomaly-free.csv")):
            with open(os.path.join(sk, "valve1", fn), "w") as f:
                f.write(hdr)
                for i in range(600):
                    an = 1 if 300 <= i < 340 or 450 <= i < 470 else 0
                    ch = [rng.gauss(0, 1) + (20 if an and j == 3 else 0) for j in range(8)]
                    ts = datetime.fromtimestamp(1583748873 + i, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                    f.write(ts + ";" + ";".join(f"{c:.5f}" for c in ch) + f";{an}.0;0.0\n")
        sks = load_skab(os.path.dirname(sk))
        check(len(sks) == 1 and sks[0].label_rows == [300, 450] and len(sks[0].channels) == 8, "SKAB load")
        check(sks[0].timestamps[0].endswith("Z") and "T" in sks[0].timestamps[0], "SKAB timestamps")
        p0 = ctx.channel_path(sks[0], 0)
        check(read_series_csv(p0)[1] == sks[0].channels[0][1], "SKAB channel CSV")
        vs = VigieDetector("fake", fake, []).stream_scores(sks[0], ctx)
        check(len(vs) == 600, "SKAB vigie per channel")
        gs = GaussianDetector("gaussian", 6400, 100).stream_scores(sks[0], ctx)
        r = evaluate_detector(sks, {sks[0].name: gs})
        q = prf(sks, {sks[0].name: gs}, r["profiles"]["standard"]["threshold"])
        check(r["profiles"]["standard"]["score"] > 0 and q["recall"] > 0, f"SKAB gaussian {q}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"self-test: {checks} checks passed")


# --------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="nab_eval.py",
        description="NAB-style scoring of anomaly detectors (null, windowed Gaussian, vigie replay, "
                    "precomputed scores) on labelled streams or SKAB. The full rules are in the "
                    "docstring at the top of this file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n"
               "  nab_eval.py DIR --vigie target/release/vigie --by-kind --json out.json\n"
               "  nab_eval.py DIR --vigie new=./a --vigie old=./b --vigie-arg=--season=24 --jobs 2\n"
               "  nab_eval.py --skab SKAB/data --vigie target/release/vigie\n"
               "  nab_eval.py --self-test\n"
               "Profiles (A_tp, A_fp, A_tn, A_fn): standard (1, 0.11, 1, 1), low FP (1, 0.22, 1, 1), "
               "low FN (1, 0.11, 1, 2).\n"
               "Scores: 100*(raw - null)/(perfect - null); one threshold per detector and profile for "
               "the corpus, by an exact sweep.")
    ap.add_argument("dir", nargs="?", help="labelled directory: <name>.csv (timestamp,value), labels.json, "
                    "optional kinds.json")
    ap.add_argument("--skab", metavar="DIR", help="score SKAB instead: DIR holds valve1/, valve2/, other/ "
                    "(or DIR/data does)")
    ap.add_argument("--detectors", default="null,gaussian", metavar="LIST",
                    help="comma list of null, gaussian, vigie:[NAME=]PATH, scores:NAME=PATH "
                         "(default: null,gaussian; --vigie/--scores-dir add more)")
    ap.add_argument("--vigie", action="append", default=[], metavar="[NAME=]PATH",
                    help="a vigie binary to run (`PATH replay --input CSV --output TMP --bucket raw`); "
                         "repeatable, NAME labels it (default name: vigie)")
    ap.add_argument("--vigie-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for every replay call, repeatable; write flags as "
                         "--vigie-arg=--season=24")
    ap.add_argument("--scores-dir", action="append", default=[], metavar="NAME=PATH",
                    help="precomputed scores: PATH/<name>.csv with a column anomaly_score, one row per "
                         "input row (SKAB: PATH/valve1/0.csv ..., the combined score)")
    ap.add_argument("--gauss-window", type=int, default=6400, metavar="W",
                    help="windowed Gaussian: values in the window (NAB: 6400)")
    ap.add_argument("--gauss-step", type=int, default=100, metavar="S",
                    help="windowed Gaussian: once full, the window slides by S values at a time (NAB: 100)")
    ap.add_argument("--by-kind", action="store_true", help="also the standard score per kind (kinds.json)")
    ap.add_argument("--json", metavar="OUT", help="write all results as JSON to OUT")
    ap.add_argument("--jobs", type=int, default=1, metavar="N", help="parallel vigie replays (default 1)")
    ap.add_argument("--work", metavar="DIR", help="keep vigie outputs and SKAB channel CSVs here "
                    "(default: a temporary directory, removed)")
    ap.add_argument("--keep-work", action="store_true", help="do not remove the temporary work directory")
    ap.add_argument("--progress", type=int, default=20, metavar="N",
                    help="a progress line on stderr every N streams (0: none; default 20)")
    ap.add_argument("--self-test", action="store_true", help="run the built-in checks and exit")
    args = ap.parse_args(argv)
    if args.self_test:
        self_test()
        return 0
    if bool(args.dir) == bool(args.skab):
        ap.error("give a labelled DIR or --skab DIR (one of them)")
    if args.gauss_window < 1 or args.gauss_step < 1 or args.jobs < 1:
        ap.error("--gauss-window, --gauss-step and --jobs must be ≥ 1")
    try:
        dets = build_detectors(args)
        if not dets:
            raise EvalError("no detectors")
        streams = load_skab(args.skab) if args.skab else load_dir(args.dir)
        run(streams, dets, args, skab=bool(args.skab))
    except EvalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
