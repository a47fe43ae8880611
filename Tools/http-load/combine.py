#!/usr/bin/env python3
"""Combines the `JSON {...}` lines of wrk runs made at the same time against
different servers (Tools/http-bench.sh, target pg2) into one result line:
requests, req/s, non-2xx and socket errors summed; latency percentiles, mean
and max the highest of the runs (a conservative figure: wrk's histograms are
not merged).

  combine.py WRK_OUTPUT...
"""
import json
import sys


def main():
    runs = []
    for path in sys.argv[1:]:
        for line in open(path):
            if line.startswith("JSON "):
                runs.append(json.loads(line[5:]))
    if not runs:
        sys.exit("combine: no JSON line in " + " ".join(sys.argv[1:]))
    combined = {"requests": sum(r["requests"] for r in runs),
                "duration_s": max(r["duration_s"] for r in runs),
                "rps": sum(r["rps"] for r in runs)}
    for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"):
        combined[key] = max(r[key] for r in runs)
    for key in ("non2xx", "connect_errors", "read_errors", "write_errors", "timeouts"):
        combined[key] = sum(r[key] for r in runs)
    combined["statuses"] = None
    print(json.dumps(combined, separators=(",", ":")))


if __name__ == "__main__":
    main()
