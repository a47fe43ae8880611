#!/usr/bin/env python3
"""Prints the markdown table of an HTTP load run (Tools/http-bench.sh).

  summarize.py RESULTS.jsonl

One row per scenario and connection count; for each server its req/s, p50 and
p99 latency (ms) and non-2xx responses, then each server's req/s as a ratio
to the bare Hummingbird route's (`bare`), when both ran.
"""
import json
import sys


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    if not rows:
        sys.exit("summarize: no results")
    servers = list(dict.fromkeys(row["server"] for row in rows))
    keys = list(dict.fromkeys((row["scenario"], row["connections"]) for row in rows))
    by = {(row["server"], row["scenario"], row["connections"]): row for row in rows}
    ratioed = [server for server in servers if server != "bare"] if "bare" in servers else []

    header = ["scenario", "conns"]
    for server in servers:
        header += [f"{server} req/s", "p50 ms", "p99 ms", "non-2xx"]
    header += [f"{server}/bare" for server in ratioed]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|")
    for scenario, connections in keys:
        cells = [scenario, str(connections)]
        for server in servers:
            row = by.get((server, scenario, connections))
            if row is None:
                cells += ["", "", "", ""]
                continue
            cells += [f"{row['rps']:,.0f}", f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}", str(row["non2xx"])]
        bare = by.get(("bare", scenario, connections))
        for server in ratioed:
            row = by.get((server, scenario, connections))
            cells.append(f"{row['rps'] / bare['rps']:.2f}" if row and bare and bare["rps"] else "")
        print("| " + " | ".join(cells) + " |")
    notes = [row for row in rows if row["connect_errors"] or row["read_errors"] or row["write_errors"] or row["timeouts"]
             or row["non2xx"]]
    for row in notes:
        statuses = row.get("statuses") or "by class: run with STATUS_DETAIL=1"
        print(f"\n{row['server']} {row['scenario']} c={row['connections']}: non-2xx {row['non2xx']} ({statuses}), "
              f"socket errors connect {row['connect_errors']} read {row['read_errors']} write {row['write_errors']}, "
              f"timeouts {row['timeouts']}")


if __name__ == "__main__":
    main()
