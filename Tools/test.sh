#!/usr/bin/env bash
# Every test of the project, as `make test` and CI run it:
#  1. the debug test suite (unit, property, crash tests with real processes), run
#     serially: crash and timing tests must not starve each other on 2 cores;
#  2. release-mode volume tests with bounded sizes;
#  3. API fuzzing: schemathesis against a release `msgstore serve` and its /openapi.yaml
#     (Tools/schemathesis.sh, SCHEMATHESIS_MAX_EXAMPLES [100] per operation);
#  4. the kill soak: mixed HTTP load, the server SIGKILLed and restarted 10 times,
#     every acknowledged message checked (Tools/soak.sh, SOAK_CYCLES [10]);
#  5. a short fuzz run of every decoder (Tools/fuzz.sh, FUZZ_SECONDS per target,
#     4 by default here: 40 s for the ten targets, after a sanitizer build of
#     about 6 minutes on 2 cores);
#  6. the library's documentation (DocC), which fails on any warning: a broken
#     symbol link or an undocumented parameter of a public API;
#  7. the engine suites (MsgStoreTests) under AddressSanitizer, in their own build
#     directory (.build-asan; Tools/sanitize.sh). MSGSTORE_CI_ASAN=0 skips this step
#     (locally: it is a second full build).
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/install-deps.sh
echo "== swift test (debug)" >&2
set +e
swift test --no-parallel 2>&1 | tee "${TMPDIR:-/tmp}/msgstore-swift-test.log" \
  | grep --line-buffered -Ev '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Wrapping|Write|Linking|Planning)'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then echo "swift test failed with status $status" >&2; exit "$status"; fi
if [ -x Tools/volume-tests.sh ]; then
  echo "== release-mode volume tests" >&2
  Tools/volume-tests.sh
fi
echo "== API fuzzing (Tools/schemathesis.sh)" >&2
Tools/schemathesis.sh
echo "== kill soak (Tools/soak.sh)" >&2
SOAK_CYCLES=${SOAK_CYCLES:-10} Tools/soak.sh
echo "== fuzzing every decoder (Tools/fuzz.sh)" >&2
FUZZ_SECONDS=${FUZZ_SECONDS:-4} Tools/fuzz.sh
echo "== documentation (make docs: DocC, warnings are errors)" >&2
make --no-print-directory docs >"${TMPDIR:-/tmp}/msgstore-docs.log" 2>&1 || {
  grep -E '^(error|warning)' -A4 "${TMPDIR:-/tmp}/msgstore-docs.log" >&2; echo "make docs failed" >&2; exit 1; }
if [ "${MSGSTORE_CI_ASAN:-1}" != 0 ]; then
  echo "== AddressSanitizer: the engine suites (make asan FILTER=MsgStoreTests; MSGSTORE_CI_ASAN=0 skips)" >&2
  Tools/sanitize.sh address MsgStoreTests
fi
