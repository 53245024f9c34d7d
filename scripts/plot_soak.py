#!/usr/bin/env python3
"""Plots a soak run (benches/benches/soak.rs): resident memory, events per
second and rows waiting for the sink, and ingest latency per 10 s window.

    python3 scripts/plot_soak.py target/soak docs/soak-embedded.png "embedded mode"

Needs matplotlib (pip install matplotlib).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    src, out, title = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "soak"
    s = rows(f"{src}/soak.csv")
    lat = rows(f"{src}/latency.csv")
    t = [int(r["second"]) for r in s]
    fig, ax = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    ax[0].plot(t, [float(r["rss_mb"]) for r in s], color="tab:blue")
    ax[0].set_ylabel("resident memory (MB)")
    ax[0].set_ylim(bottom=0)
    ax[1].plot(t, [int(r["events_per_s"]) for r in s], color="tab:green", label="events processed / s")
    ax[1].set_ylabel("events / s")
    ax[1].set_ylim(bottom=0)
    twin = ax[1].twinx()
    twin.plot(t, [int(r["rows_pending"]) for r in s], color="tab:orange", label="rows waiting for the sink")
    twin.set_ylabel("rows waiting")
    twin.set_ylim(bottom=0)
    ax[1].legend(loc="lower left")
    twin.legend(loc="lower right")
    lt = [int(r["second"]) for r in lat]
    ax[2].plot(lt, [float(r["p99_ms"]) for r in lat], color="tab:red", label="p99")
    ax[2].plot(lt, [float(r["p50_ms"]) for r in lat], color="tab:gray", label="p50")
    ax[2].set_ylabel("ingest request (ms), per 10 s")
    ax[2].set_ylim(bottom=0)
    ax[2].set_xlabel("seconds")
    ax[2].legend()
    fig.suptitle(f"vigie soak, {title}: 80% of measured capacity")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    main()
