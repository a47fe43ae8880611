#!/usr/bin/env bash
# Release-mode volume tests with bounded sizes (debug Swift is 10-50x slower),
# run by Tools/test.sh after the debug suite. Only the engine and the helper are
# built in release (not the server), so this stays a few minutes on 2 cores.
#   - a 2M-entry load through the engine, peak RSS checked against the budgets;
#   - 1M records through the durable queue, disk use back to near empty.
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES=${MSGSTORE_VOLUME_ENTRIES:-2000000}
RECORDS=${MSGSTORE_VOLUME_QUEUE_RECORDS:-1000000}
swift build -c release --product MsgStoreTestHelper 2>&1 | grep -E "error|warning:" || true
helper=.build/release/MsgStoreTestHelper
dir=$(mktemp -d "${TMPDIR:-/tmp}/msgstore-volume.XXXXXX")
trap 'rm -rf "$dir"' EXIT
passed=0
failed=0
run() {
  local name=$1; shift
  echo "== volume: $name" >&2
  if "$helper" "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "volume test $name FAILED" >&2; fi
}
run "engine, $ENTRIES entries" volume "$dir/engine" "$ENTRIES"
run "queue, $RECORDS records" queue-volume "$dir/queue" "$RECORDS"
echo "volume: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
