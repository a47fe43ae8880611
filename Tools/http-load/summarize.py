#!/usr/bin/env python3
"""Prints the markdown table of an HTTP load run (Tools/http-bench.sh).

  summarize.py RESULTS.jsonl

One row per scenario and connection count; for each server its req/s, p50 and
p99 latency (ms) and non-2xx responses, then each server's req/s as a ratio
to the bare Hummingbird route's (`bare`), when both ran.

With repeats (REPEATS=N: each row's runs alternate between the servers N
times), a server's figures are those of its median run by req/s, with the
range of req/s in brackets; non-2xx is the total over the repeats; the ratio
is the median of the repeats' ratios (each repeat's runs are back to back,
so they share the machine's conditions).
"""
import json
import statistics
import sys


def median_row(runs):
    ordered = sorted(runs, key=lambda row: row["rps"])
    return ordered[(len(ordered) - 1) // 2]


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    if not rows:
        sys.exit("summarize: no results")
    servers = list(dict.fromkeys(row["server"] for row in rows))
    keys = list(dict.fromkeys((row["scenario"], row["connections"]) for row in rows))
    runs = {}
    for row in rows:
        runs.setdefault((row["server"], row["scenario"], row["connections"]), []).append(row)
    repeats = max(len(value) for value in runs.values())
    ratioed = [server for server in servers if server != "bare"] if "bare" in servers else []

    if repeats > 1:
        print(f"median of {repeats} alternated runs, req/s range in brackets\n")
    header = ["scenario", "conns"]
    for server in servers:
        header += [f"{server} req/s", "p50 ms", "p99 ms", "non-2xx"]
    header += [f"{server}/bare" for server in ratioed]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|")
    for scenario, connections in keys:
        cells = [scenario, str(connections)]
        for server in servers:
            these = runs.get((server, scenario, connections))
            if not these:
                cells += ["", "", "", ""]
                continue
            row = median_row(these)
            rps = f"{row['rps']:,.0f}"
            if len(these) > 1:
                low, high = min(r["rps"] for r in these), max(r["rps"] for r in these)
                rps += f" ({low:,.0f}–{high:,.0f})"
            cells += [rps, f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}", str(sum(r["non2xx"] for r in these))]
        bare = {r.get("repeat", 1): r for r in runs.get(("bare", scenario, connections), [])}
        for server in ratioed:
            ratios = [r["rps"] / bare[r.get("repeat", 1)]["rps"]
                      for r in runs.get((server, scenario, connections), [])
                      if r.get("repeat", 1) in bare and bare[r.get("repeat", 1)]["rps"]]
            cells.append(f"{statistics.median(ratios):.2f}" if ratios else "")
        print("| " + " | ".join(cells) + " |")
    # CPU per request (Tools/http-bench.sh records the servers' and PostgreSQL's CPU seconds per run).
    if any("servers_cpu_s" in row for row in rows):
        print("\nCPU per request of the median run, ms: msgstore servers / PostgreSQL:\n")
        print("| scenario | conns | " + " | ".join(servers) + " |")
        print("|---|---|" + "---:|" * len(servers))
        for scenario, connections in keys:
            cells = [scenario, str(connections)]
            for server in servers:
                these = runs.get((server, scenario, connections))
                if not these or "servers_cpu_s" not in these[0] or not median_row(these)["requests"]:
                    cells.append("")
                    continue
                row = median_row(these)
                app = row["servers_cpu_s"] * 1000 / row["requests"]
                db = row.get("db_cpu_s", 0) * 1000 / row["requests"]
                cells.append(f"{app:.3f} / {db:.3f}" if db else f"{app:.3f}")
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
