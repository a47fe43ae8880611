#!/usr/bin/env bash
# The test suite under a sanitizer (`make asan`, `make tsan`; docs/reliability.md#sanitizers).
#
#   Tools/sanitize.sh address [filter]   AddressSanitizer, build in .build-asan
#   Tools/sanitize.sh thread  [filter]   ThreadSanitizer,  build in .build-tsan
#
# The filter is passed to `swift test --filter` (for example `MsgStoreTests`). Tests run
# serially (`--no-parallel`), as in `make test`. The helper programs the crash tests start
# (`msgstore`, MsgStoreTestHelper) are built with the same sanitizer and inherit the
# options below, so a report in a child process fails its test too.
#
# Settings by environment:
#   SWIFT                   the swift driver (default `swift`)
#   ASAN_OPTIONS / TSAN_OPTIONS   appended to ours (later settings win)
#   SANITIZE_HALT=0         report every race and go on (triage), instead of stopping at the
#                           first report; the run still fails at exit when anything was reported
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
filter=${2:-}
SWIFT=${SWIFT:-swift}
halt=${SANITIZE_HALT:-1}
case "$kind" in
  address)
    scratch=.build-asan
    # detect_leaks=0: with leak detection on, a whole run reports ~320 leaks, every one
    # allocated inside XCTest, Foundation (Process, FileHandle, URLSession/libcurl) or
    # SwiftNIO's embedded test channel, none with a frame in Sources/ (docs/reliability.md
    # #sanitizers); the engine's own leak tests count what it holds instead. Every other
    # ASan error stops the process and fails its test.
    export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    ;;
  thread)
    scratch=.build-tsan
    # Every suppression in the file names its third-party library and says why it is not ours.
    export TSAN_OPTIONS="suppressions=$PWD/Tools/sanitizers/tsan.supp:halt_on_error=$halt:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
    ;;
  *)
    echo "usage: $0 address|thread [swift test --filter]" >&2
    exit 2
    ;;
esac
Tools/install-deps.sh
args=(test --no-parallel --sanitize="$kind" --scratch-path "$scratch")
if [ -n "$filter" ]; then args+=(--filter "$filter"); fi
echo "== $SWIFT ${args[*]}" >&2
echo "   ASAN_OPTIONS=${ASAN_OPTIONS:-} TSAN_OPTIONS=${TSAN_OPTIONS:-}" >&2
log="${TMPDIR:-/tmp}/msgstore-sanitize-$kind.log"
set +e
$SWIFT "${args[@]}" 2>&1 | tee "$log" \
  | grep --line-buffered -Ev '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Wrapping|Write|Linking|Planning)'
status=${PIPESTATUS[0]}
set -e
reports=$(grep -cE '^(SUMMARY: (Address|Thread)Sanitizer|WARNING: ThreadSanitizer|ERROR: AddressSanitizer)' "$log" || true)
echo "== sanitizer ($kind): exit $status, $reports report line(s); full log in $log" >&2
if [ "$status" -eq 0 ] && [ "$reports" -ne 0 ]; then
  echo "sanitizer reports in a passing run (a child process?): failing" >&2
  exit 1
fi
exit "$status"
