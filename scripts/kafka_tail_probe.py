#!/usr/bin/env python3
"""Does the broker serve a live tail steadily? A probe without vigie.

Starts tansu (memory engine) on a free port, makes a topic of 6 partitions,
produces about 300-byte records (lz4, as the Kafka soak does) at a fixed rate
from one process while a plain librdkafka consumer (confluent-kafka) in
another reads the tail, and prints per interval what was produced, what was
consumed, the lag, and the seconds in which nothing came back while records
were going in. If the seconds with nothing consumed appear here too, they
come from the broker, not from vigie's consumer.

    pip install confluent-kafka
    python3 scripts/kafka_tail_probe.py [--secs 600] [--rate 115000] [--out probe.csv]

TANSU names the broker binary (default ~/.cargo/bin/tansu).
"""

import argparse
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time

TOPIC = "probe.events"
PARTITIONS = 6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record(i):
    # About the size of one vigie stock event, as JSON.
    return json.dumps(
        {
            "type": "stock",
            "event_id": f"probe-{i:012d}",
            "tenant": f"tenant-{i % 4}",
            "ts": 1735689600000 + i,
            "site": f"S{i % 50:03d}",
            "sku": f"SKU-{i % 1000:05d}",
            "movement": "sale",
            "quantity": 1 + i % 9,
            "requested": None,
            "lead_time_days": 7,
            "reorder_point": 40,
            "note": "x" * 60,
        }
    ).encode()


def produce(addr, rate, secs, produced, stop):
    from confluent_kafka import Producer

    p = Producer(
        {
            "bootstrap.servers": addr,
            "compression.type": "lz4",
            "linger.ms": 5,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 2000000,
            "acks": "all",
        }
    )
    start = time.monotonic()
    sent = 0
    tick = 0.01
    while not stop.is_set() and time.monotonic() - start < secs:
        due = int((time.monotonic() - start) * rate)
        while sent < due:
            try:
                p.produce(TOPIC, record(sent), partition=sent % PARTITIONS)
            except BufferError:
                p.poll(0.01)
                continue
            sent += 1
        produced.value = sent
        p.poll(0)
        time.sleep(tick)
    p.flush(30)
    produced.value = sent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--secs", type=int, default=600)
    ap.add_argument("--rate", type=int, default=115000)
    ap.add_argument("--every", type=int, default=30, help="seconds per printed line")
    ap.add_argument("--out", default=None, help="CSV of every second")
    args = ap.parse_args()

    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient, NewTopic

    tansu = os.environ.get("TANSU", os.path.expanduser("~/.cargo/bin/tansu"))
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    addr = f"127.0.0.1:{port}"
    work = tempfile.mkdtemp(prefix="probe-")
    broker = subprocess.Popen(
        [tansu, "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        admin = AdminClient({"bootstrap.servers": addr})
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(10)

        c = Consumer(
            {
                "bootstrap.servers": addr,
                "group.id": "probe",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
                "fetch.wait.max.ms": 5,
            }
        )
        c.subscribe([TOPIC])
        produced = mp.Value("q", 0)
        stop = mp.Event()
        prod = mp.Process(target=produce, args=(addr, args.rate, args.secs, produced, stop))
        prod.start()
        start = time.monotonic()
        consumed = 0
        rows = []
        sec_start, sec_consumed = start, 0
        drained_at = None
        while True:
            msgs = c.consume(num_messages=10000, timeout=0.1)
            for m in msgs:
                if m.error() is None:
                    consumed += 1
                    sec_consumed += 1
            now = time.monotonic()
            if now - sec_start >= 1.0:
                rows.append((round(now - start, 1), produced.value, consumed, sec_consumed))
                sec_start, sec_consumed = now, 0
            if not prod.is_alive() and consumed >= produced.value:
                drained_at = now - start
                break
            if now - start > args.secs * 3 + 60:
                break
        prod.join()
        c.close()
    finally:
        broker.terminate()
        broker.wait()

    if args.out:
        with open(args.out, "w") as f:
            f.write("t,produced,consumed,consumed_in_second\n")
            for r in rows:
                f.write(",".join(map(str, r)) + "\n")
    print(f"tansu, {PARTITIONS} partitions, asked {args.rate}/s for {args.secs} s")
    print("window_s  produced/s  consumed/s  lag_at_end  empty_seconds")
    w = args.every
    for lo in range(0, args.secs, w):
        win = [r for r in rows if lo <= r[0] < lo + w]
        if not win:
            continue
        prev = [r for r in rows if r[0] < lo]
        p0, c0 = (prev[-1][1], prev[-1][2]) if prev else (0, 0)
        last = win[-1]
        empty = sum(1 for r in win if r[3] == 0 and r[1] > r[2])
        span = last[0] - (prev[-1][0] if prev else 0)
        print(
            f"{lo:4d}-{lo + w:<4d} {(last[1] - p0) / span:11.0f} {(last[2] - c0) / span:11.0f} "
            f"{last[1] - last[2]:11d} {empty:6d}"
        )
    total = produced.value
    print(f"produced {total}, consumed {consumed}, drained at {drained_at} s")
    return 0 if consumed >= total else 1


if __name__ == "__main__":
    sys.exit(main())
