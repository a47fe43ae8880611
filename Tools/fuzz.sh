#!/usr/bin/env bash
# Fuzzes every decoder with libFuzzer (docs/reliability.md, "Fuzzing"); `make fuzz`.
#
# Builds the MsgStoreFuzz executable once (debug, address sanitizer, in
# .build-fuzz so that the normal .build is left alone), then runs each target
# for FUZZ_SECONDS on a copy of its committed seed corpus (Fuzz/corpus/TARGET;
# the copy grows, the committed corpus does not). Prints executions, coverage
# and findings per target; exits non-zero if any target found anything
# (a crash, a trap, a hang, a leak, an allocation past the limit).
#
# Settings (environment):
#   FUZZ_SECONDS  seconds per target (default 600: the long run)
#   FUZZ_TARGETS  the targets to run (default: all of them)
#   FUZZ_JOBS     targets run at the same time (default 1)
#   FUZZ_OUT      where crash artifacts (FUZZ_OUT/crashes) and logs (FUZZ_OUT/logs) go
#                 (default .build-fuzz/fuzz-out; emptied first)
#   FUZZ_KEEP_CORPUS  if set, a directory to copy each target's grown corpus to
#   FUZZ_FLAGS    extra libFuzzer flags
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-600}
TARGETS=${FUZZ_TARGETS:-"wal batch sstable manifest schema queue queue-state json date uuid"}
JOBS=${FUZZ_JOBS:-1}
OUT=${FUZZ_OUT:-.build-fuzz/fuzz-out}
SCRATCH=.build-fuzz

echo "== building MsgStoreFuzz (debug, fuzzer + address sanitizer)" >&2
# `--sanitize=fuzzer --sanitize=address` alone links libFuzzer but compiles Swift with
# `-sanitize=fuzzer -sanitize=address`, of which swiftc keeps only the last: no coverage
# instrumentation at all. The -Xswiftc flag (last, so it wins) asks for both.
build=(swift build --product MsgStoreFuzz --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address
       --scratch-path "$SCRATCH")
if ! "${build[@]}" >"${TMPDIR:-/tmp}/msgstore-fuzz-build.log" 2>&1; then
  grep -E "error|warning:" "${TMPDIR:-/tmp}/msgstore-fuzz-build.log" >&2 || tail -20 "${TMPDIR:-/tmp}/msgstore-fuzz-build.log" >&2
  echo "fuzz build failed" >&2
  exit 1
fi
binary="$("${build[@]}" --show-bin-path)/MsgStoreFuzz"

rm -rf "$OUT"
mkdir -p "$OUT/crashes" "$OUT/logs"
work=$(mktemp -d "${TMPDIR:-/tmp}/msgstore-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# One target: corpus copy, run, stats.
run_target() {
  local target=$1
  local corpus="$work/corpus-$target" log="$OUT/logs/$target.log"
  mkdir -p "$corpus"
  if [ -d "Fuzz/corpus/$target" ]; then cp -R "Fuzz/corpus/$target/." "$corpus/"; fi
  local dict=()
  if [ -f "Fuzz/dict/$target.dict" ]; then dict=(-dict="Fuzz/dict/$target.dict"); fi
  # Log files: a little past one 32 KiB block (after a bad fragment the reader scans
  # every later byte for a valid one, so big inputs are slow); the rest: the 64 KiB
  # the seeds are kept under.
  local max_len=65536
  case $target in wal|queue|queue-state|manifest) max_len=40000 ;; esac
  local status=0
  # SWIFT_BACKTRACE=enable=no: Swift's backtracer would catch the trap first and no crash file would be written.
  # malloc_context_size=0: no stack recorded per allocation (half the time of a run went there);
  # rerun an artifact without it for the allocation stacks of a memory error.
  ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0} \
  MSGSTORE_FUZZ_TARGET=$target SWIFT_BACKTRACE=enable=no "$binary" "$corpus" "${dict[@]}" \
    -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -max_len="$max_len" \
    -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -artifact_prefix="$OUT/crashes/$target-" ${FUZZ_FLAGS:-} >"$log" 2>&1 || status=$?
  if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then mkdir -p "$FUZZ_KEEP_CORPUS/$target" && cp -R "$corpus/." "$FUZZ_KEEP_CORPUS/$target/"; fi
  echo "$status" >"$OUT/logs/$target.status"
}

for target in $TARGETS; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  echo "== fuzzing $target for ${SECONDS_PER_TARGET}s" >&2
  run_target "$target" &
done
wait

failed=0
# A binary without coverage instrumentation still runs, blind: refuse it.
counters=$(sed -n 's/.*Loaded 1 modules *(\([0-9]*\) inline 8-bit counters).*/\1/p' "$OUT/logs/$(set -- $TARGETS; echo "$1").log" | head -1)
if [ "${counters:-0}" -lt 20000 ]; then
  echo "fuzz binary has ${counters:-no} coverage counters: the Swift code is not instrumented" >&2
  failed=1
fi
printf '%-12s %14s %10s %8s %8s %8s  %s\n' target executions exec/s cov ft corpus result
for target in $TARGETS; do
  log="$OUT/logs/$target.log"
  status=$(cat "$OUT/logs/$target.status" 2>/dev/null || echo "?")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  units=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
  artifacts=$(find "$OUT/crashes" -name "$target-*" | wc -l)
  result=ok
  if [ "$status" != 0 ] || [ "$artifacts" -gt 0 ]; then
    result="FOUND (exit $status, $artifacts artifact(s) in $OUT/crashes; log $log)"
    failed=$((failed + 1))
  fi
  printf '%-12s %14s %10s %8s %8s %8s  %s\n' "$target" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${units:-?}" "$result"
done
if [ "$failed" -ne 0 ]; then
  echo "fuzzing: $failed target(s) found something; reproduce with" >&2
  echo "  MSGSTORE_FUZZ_TARGET=TARGET SWIFT_BACKTRACE=enable=no $binary ARTIFACT" >&2
  exit 1
fi
echo "fuzzing: no findings" >&2
