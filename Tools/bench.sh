#!/usr/bin/env bash
# Runs msgstore and its peers (RocksDB, LevelDB) on the standard messaging
# workload, alternating engines run by run on this machine, and prints a
# markdown summary: medians over the repeats and msgstore ÷ the best peer.
# The workload generator and summarizer are in Tools/bench/, the peer harness
# in Tools/peers/ (docs/workload.md, docs/performance.md). Usage:
#   Tools/bench.sh [WORKLOAD_DIR] [OUT_DIR]      (defaults /tmp/msgbench-wl, /tmp/msgbench-results)
# Env:
#   MESSAGES      sends in a workload generated here (default 1000000: the standard workload)
#   REPEATS       runs of every engine in every mode, alternated (default 1)
#   ENGINES       peers (default "rocksdb rocksdb-zstd leveldb")
#   MODES         default "buffered durable"
#   DURABLE_LIMIT sends timed in durable mode (default 300000; the rest loads buffered, untimed)
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:-/tmp/msgbench-wl}
out=${2:-/tmp/msgbench-results}
messages=${MESSAGES:-1000000}
repeats=${REPEATS:-1}
engines=${ENGINES:-rocksdb rocksdb-zstd leveldb}
limit=${DURABLE_LIMIT:-300000}
modes=${MODES:-buffered durable}
mkdir -p "$out"
rm -f "$out"/*.jsonl

if [ ! -f "$workload/workload.json" ]; then
  echo "generating the workload ($messages sends) in $workload" >&2
  python3 Tools/bench/gen_workload.py --messages "$messages" --out "$workload" >&2
fi
Tools/install-deps.sh
swift build -c release --product msgstore >&2

for rep in $(seq 1 "$repeats"); do
  for mode in $modes; do
    extra=()
    [ "$mode" = durable ] && extra=(--limit "$limit")
    for engine in msgstore $engines; do
      echo "== run $rep/$repeats: $engine $mode" >&2
      if [ "$engine" = msgstore ]; then
        rm -rf "$out/msgstore-$mode"
        .build/release/msgstore bench --workload "$workload" --db "$out/msgstore-$mode" --durability "$mode" "${extra[@]}" >> "$out/msgstore-$mode.jsonl"
      else
        Tools/peers/run --engine "$engine" --workload "$workload" --db "$out/peers" --durability "$mode" "${extra[@]}" >> "$out/$engine-$mode.jsonl"
      fi
    done
  done
done
python3 Tools/bench/summarize.py "$out"/*.jsonl
