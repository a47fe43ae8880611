#!/usr/bin/env bash
# Durable queue throughput (release build, sync mode always, 128-byte payloads):
# enqueue rate with 1, 8 and 64 concurrent producers, then one consumer's
# receive+ack rate; then the same without fdatasync (the engine's CPU ceiling).
# Usage: Tools/queue-bench.sh [MESSAGES_PER_RUN]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-20000}"
swift build -c release --product MsgStoreTestHelper 2>&1 | tail -1 >&2
helper="$(swift build -c release --show-bin-path)/MsgStoreTestHelper"
for sync in sync nosync; do
  for producers in 1 8 64; do
    dir="$(mktemp -d "${TMPDIR:-/tmp}/msgstore-queue-bench.XXXXXX")"
    "$helper" queue-bench "$dir/q" "$producers" "$count" "$sync"
    rm -rf "$dir"
  done
done
