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


def main():
    rows = load(sys.argv[1:])
    runs = {}
    for d in rows:
        key = (d["engine"], d["durability"], d["threads"], d["workload"])
        runs.setdefault(key, {})[d["phase"]] = d
    print("| engine | durability | thr | sends timed | sends/s | entries/s | send p50 µs | p99 µs | p99.9 µs "
          "| settle s | reads/s | read p50 µs | p99 µs | checks/s | check p50 µs | p99 µs | disk MB | B/entry "
          "| peak RSS MB | mismatches |")
    print("|" + "---|" * 20)
    for (eng, dur, thr, wl), ph in runs.items():
        ing = ph.get("ingest", {})
        rd = ph.get("reads", {})
        ck = ph.get("checks", {})
        st = ph.get("settle", {})
        sz = ph.get("size", {})
        mism = sum(ph[p].get("mismatches", 0) for p in ph)
        rss = max((ph[p].get("peak_rss_bytes", 0) for p in ph), default=0)
        print("| " + " | ".join([
            eng, dur, str(thr), f(ing.get("ops")), f(ing.get("ops_per_s"), 0), f(ing.get("entries_per_s"), 0),
            f(ing.get("p50_us")), f(ing.get("p99_us")), f(ing.get("p999_us")),
            f(st.get("seconds"), 2), f(rd.get("ops_per_s"), 0), f(rd.get("p50_us")), f(rd.get("p99_us")),
            f(ck.get("ops_per_s"), 0), f(ck.get("p50_us"), 2), f(ck.get("p99_us"), 2),
            f(sz.get("bytes_on_disk", 0) / 1e6, 1) if sz else "-", f(sz.get("bytes_per_entry"), 1),
            f(rss / 1e6, 0), str(mism),
        ]) + " |")


if __name__ == "__main__":
    main()
