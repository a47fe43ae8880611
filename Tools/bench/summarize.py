#!/usr/bin/env python3
"""Summarize msgbench/1 JSON lines (docs/workload.md) as markdown tables.

usage: python3 Tools/bench/summarize.py FILE.jsonl [FILE.jsonl ...]   (or stdin)
Lines that are not msgbench/1 JSON objects are ignored, so raw logs work too.
"""
import json
import sys


def load(paths):
    rows = []
    streams = [open(p) for p in paths] if paths else [sys.stdin]
    for s in streams:
        for line in s:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("schema") == "msgbench/1":
                rows.append(d)
    return rows


def f(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}"


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def metrics(ph):
    """The figures of one run (one engine, one durability: its phases)."""
    ing, rd, ck, st, sz = (ph.get(k, {}) for k in ("ingest", "reads", "checks", "settle", "size"))
    dr = ph.get("drain", {})
    return {
        "sends": ing.get("ops"), "sends_s": ing.get("ops_per_s"), "entries_s": ing.get("entries_per_s"),
        "send_p50": ing.get("p50_us"), "send_p99": ing.get("p99_us"), "send_p999": ing.get("p999_us"),
        "drain_s": dr.get("seconds"), "sends_s_drained": dr.get("sends_per_s_with_drain", ing.get("ops_per_s")),
        "settle_s": st.get("seconds"), "reads_s": rd.get("ops_per_s"), "read_p50": rd.get("p50_us"),
        "read_p99": rd.get("p99_us"), "checks_s": ck.get("ops_per_s"), "check_p50": ck.get("p50_us"),
        "check_p99": ck.get("p99_us"),
        "disk_mb": sz.get("bytes_on_disk", 0) / 1e6 if sz else None, "b_entry": sz.get("bytes_per_entry"),
        "rss_mb": max((ph[p].get("peak_rss_bytes", 0) for p in ph), default=0) / 1e6,
        "anon_mb": max((ph[p].get("peak_anon_rss_bytes", 0) for p in ph), default=0) / 1e6 or None,
        "mismatches": sum(ph[p].get("mismatches", 0) for p in ph),
    }


# (column, key, digits, higher is better) for the ratio table
RATIOS = [
    ("ingest sends/s", "sends_s", True), ("ingest sends/s incl. drain", "sends_s_drained", True),
    ("send p99 µs", "send_p99", False), ("inbox page reads/s", "reads_s", True), ("read p99 µs", "read_p99", False),
    ("block checks/s", "checks_s", True), ("bytes per inbox entry", "b_entry", False),
    ("peak RSS", "rss_mb", False), ("peak anonymous RSS", "anon_mb", False),
]


def main():
    rows = load(sys.argv[1:])
    # A run is the lines of one engine from its `open` phase on; repeated runs are kept apart.
    runs = {}
    current = {}
    for d in rows:
        key = (d["engine"], d["durability"], d["threads"], d["workload"])
        if d["phase"] == "open" or key not in current:
            current[key] = {}
            runs.setdefault(key, []).append(current[key])
        current[key][d["phase"]] = d
    table = {key: {m: median([metrics(ph)[m] for ph in phs]) for m in metrics({})} for key, phs in runs.items()}
    print("Medians over the runs of each engine (n = runs).\n")
    print("| engine | durability | thr | n | sends timed | sends/s | entries/s | send p50 µs | p99 µs | p99.9 µs "
          "| drain s | settle s | reads/s | read p50 µs | p99 µs | checks/s | check p50 µs | p99 µs | disk MB | B/entry "
          "| peak RSS MB | peak anon MB | mismatches |")
    print("|" + "---|" * 23)
    for key, m in table.items():
        eng, dur, thr, wl = key
        print("| " + " | ".join([
            eng, dur, str(thr), str(len(runs[key])), f(m["sends"]), f(m["sends_s"], 0), f(m["entries_s"], 0),
            f(m["send_p50"]), f(m["send_p99"]), f(m["send_p999"]), f(m["drain_s"], 2), f(m["settle_s"], 2),
            f(m["reads_s"], 0), f(m["read_p50"]), f(m["read_p99"]), f(m["checks_s"], 0), f(m["check_p50"], 2),
            f(m["check_p99"], 2), f(m["disk_mb"], 1), f(m["b_entry"], 1), f(m["rss_mb"], 0), f(m["anon_mb"], 0),
            f(m["mismatches"]),
        ]) + " |")
    for dur in sorted({k[1] for k in table}):
        ours = [m for k, m in table.items() if k[1] == dur and k[0] == "msgstore"]
        peers = {k[0]: m for k, m in table.items() if k[1] == dur and k[0] != "msgstore"}
        if not ours or not peers:
            continue
        print(f"\nmsgstore ÷ best peer, {dur} (medians; > 1 is better for rates, < 1 for latency, bytes and memory):\n")
        print("| figure | msgstore | best peer | ratio |")
        print("|---|--:|---|--:|")
        for label, key, higher in RATIOS:
            mine = ours[0].get(key)
            candidates = [(m.get(key), name) for name, m in peers.items() if m.get(key)]
            if mine is None or not candidates:
                continue
            best, name = max(candidates) if higher else min(candidates)
            print(f"| {label} | {f(float(mine), 1)} | {name} {f(float(best), 1)} | {mine / best:.2f}× |")


if __name__ == "__main__":
    main()
