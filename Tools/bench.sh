#!/usr/bin/env bash
# Runs msgstore and its peers (RocksDB, LevelDB) on the standard messaging
# workload, one right after the other on this machine, and prints a markdown
# summary. The workload generator and summarizer are in Tools/bench/, the peer
# harness in Tools/peers/ (docs/workload.md, docs/benchmarks.md). Usage:
#   Tools/bench.sh [WORKLOAD_DIR] [OUT_DIR]      (defaults /tmp/msgbench-wl, /tmp/msgbench-results)
# Env: ENGINES (default "rocksdb rocksdb-zstd leveldb"), DURABLE_LIMIT (default 300000),
#      MODES (default "buffered durable").
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:-/tmp/msgbench-wl}
out=${2:-/tmp/msgbench-results}
engines=${ENGINES:-rocksdb rocksdb-zstd leveldb}
limit=${DURABLE_LIMIT:-300000}
modes=${MODES:-buffered durable}
mkdir -p "$out"

if [ ! -f "$workload/workload.json" ]; then
  echo "generating the workload in $workload" >&2
  python3 Tools/bench/gen_workload.py --out "$workload" >&2
fi
Tools/install-deps.sh
swift build -c release --product msgstore >&2

for mode in $modes; do
  extra=()
  [ "$mode" = durable ] && extra=(--limit "$limit")
  rm -rf "$out/msgstore-$mode"
  echo "== msgstore $mode" >&2
  .build/release/msgstore bench --workload "$workload" --db "$out/msgstore-$mode" --durability "$mode" "${extra[@]}" > "$out/msgstore-$mode.jsonl"
  for engine in $engines; do
    echo "== $engine $mode" >&2
    Tools/peers/run --engine "$engine" --workload "$workload" --db "$out/peers" --durability "$mode" "${extra[@]}" > "$out/$engine-$mode.jsonl"
  done
done
python3 Tools/bench/summarize.py "$out"/*.jsonl
