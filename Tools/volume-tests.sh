#!/usr/bin/env bash
# Release-mode volume tests with bounded sizes (run by Tools/test.sh after the debug suite).
# Each test is gated by MSGSTORE_VOLUME=1 so the debug `swift test` skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
export MSGSTORE_VOLUME=1
# Durable queue: 1M records enqueued and acked; disk usage must return to near empty.
swift test -c release --filter 'QueueRecoveryTests/volumeMillionRecordsLeaveDiskNearEmpty' 2>&1 \
  | grep -Ev '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Wrapping|Write|Linking|Planning)'
