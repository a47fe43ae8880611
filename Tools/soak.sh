#!/usr/bin/env bash
# Kill soak: a mixed HTTP load (direct and group sends, paged inbox reads,
# membership changes, blocks) against `msgstore serve --sync always`, SIGKILLed
# at random every few seconds and restarted on the same data directory; at the
# end (after a last restart and the fan-out queue drained) every acknowledged
# message is checked: present exactly once per recipient (the membership rule of
# docs/fanout.md for group messages), inboxes in date order, no date reused
# after a restart, pages read during the load consistent with the final
# inboxes, blocked senders refused; then SIGTERM (exit 0) and `msgstore verify`.
# What is checked exactly: the docstring of Tools/soak/soak.py.
#
#   Tools/soak.sh                         # CI: 10 kills (Tools/test.sh)
#   SOAK_CYCLES=100 Tools/soak.sh         # the documented run (docs/reliability.md)
#   SOAK_SEED=1234 Tools/soak.sh          # replay a seed (kill schedule and each thread's choices)
#
# Environment (defaults in brackets): SOAK_CYCLES [10] kills; SOAK_SEED [random];
# SOAK_MIN_SECONDS [1] SOAK_MAX_SECONDS [4] load between two kills; SOAK_THREADS [8];
# SOAK_USERS [40] SOAK_GROUPS [6] SOAK_GROUP_SIZE [10]; SOAK_FANOUT_BATCH [3]
# (msgstore serve --fanout-batch: fan-outs of several batches); SOAK_DATA [a new
# temporary directory, kept on failure]; SOAK_OUT [$TMPDIR/msgstore-soak] logs;
# MSGSTORE_BINARY [.build/release/msgstore]; BUILD [1] 0: use the binary as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
BINARY=${MSGSTORE_BINARY:-$PWD/.build/release/msgstore}
if [ "${BUILD:-1}" = 1 ]; then
  echo "== swift build -c release --product msgstore" >&2
  swift build -c release --product msgstore 2>&1 | grep -E "error|warning:" || true
fi
[ -x "$BINARY" ] || { echo "no msgstore binary at $BINARY" >&2; exit 1; }
exec python3 -u Tools/soak/soak.py --binary "$BINARY" "$@"
