#!/usr/bin/env bash
# Release-mode volume tests with bounded sizes (debug Swift is 10-50x slower):
#   - a 2M-entry load through the engine, peak RSS checked against the budgets;
#   - the durable queue at volume, when present.
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES=${MSGSTORE_VOLUME_ENTRIES:-2000000}
swift build -c release --product MsgStoreTestHelper 2>&1 | grep -E "error|warning" || true
helper=.build/release/MsgStoreTestHelper
dir=$(mktemp -d "${TMPDIR:-/tmp}/msgstore-volume.XXXXXX")
trap 'rm -rf "$dir"' EXIT
status=0
echo "== engine volume: $ENTRIES entries" >&2
if "$helper" volume "$dir/engine" "$ENTRIES"; then echo "volume engine: passed"; passed=1; failed=0; else status=1; passed=0; failed=1; fi
echo "$passed passed, $failed failed"
exit $status
