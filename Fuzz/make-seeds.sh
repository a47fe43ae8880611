#!/usr/bin/env bash
# Regenerates the seed corpus Fuzz/corpus/TARGET from real data directories
# (a maintainer's tool, not run by CI; needs python3 and a debug build):
#   - `msgstore serve` on a fresh directory, driven over HTTP (users, blocks,
#     a group, direct and group messages, inbox reads), stopped with SIGTERM:
#     WAL segments, manifest, SCHEMA, the fan-out queue's segment and consumer state;
#   - `MsgStoreTestHelper store-writer DIR 2 20 small` killed after a few
#     seconds: flushed and compacted SSTables (zstd, with and without a
#     dictionary), several WAL segments and manifests, a covering index;
#   - write batches cut out of those WAL segments (one record each);
#   - synthetic files the runs above do not show (Tests/MsgStoreTests/Fuzz/FuzzSeedWriter.swift);
#   - JSON bodies, dates and UUIDs written here.
# Every seed is kept under 64 KiB, WAL segments under 12 KiB (a cut log ends in a torn tail;
# FuzzSeedWriter writes one with a batch spanning two blocks).
# Usage: Fuzz/make-seeds.sh [PORT]   (replaces Fuzz/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-18571}
swift build --product msgstore >/dev/null
swift build --product MsgStoreTestHelper >/dev/null
bin=$(swift build --show-bin-path)
work=$(mktemp -d "${TMPDIR:-/tmp}/msgstore-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT
corpus=Fuzz/corpus
rm -rf "$corpus"
mkdir -p "$corpus"/{wal,batch,sstable,manifest,schema,queue,queue-state,json,date,uuid}

# 1. The server.
"$bin/msgstore" serve --data "$work/serve" --port "$PORT" --wal-segment-mib 1 --no-request-log >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
api() { curl -sf -X "$1" "http://127.0.0.1:$PORT$2" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
a=$(api POST /users | field userId)
b=$(api POST /users '{}' | field userId)
c=$(api POST /users '{"name": "ignored"}' | field userId)
g=$(api POST /groups | field groupId)
for u in "$a" "$b" "$c"; do api POST "/groups/$g/members" "{\"userId\": \"$u\"}"; done
api POST /users/block "{\"blockerId\": \"$c\", \"blockedId\": \"$a\"}"
for i in $(seq 20); do
  api POST "/messages/user/$b" "{\"sender\": \"$a\", \"content\": \"hello $i, caf\u00e9 \u2603\"}" >/dev/null
  api POST "/messages/group/$g" "{\"sender\": \"$b\", \"content\": \"group message $i\"}" >/dev/null
done
api DELETE /users/block "{\"blockerId\": \"$c\", \"blockedId\": \"$a\"}"
api DELETE "/groups/$g/members/$c"
date=$(api GET "/messages/$b?limit=1" | python3 -c "import json,sys; print(json.load(sys.stdin)['messages'][0]['date'])")
sleep 1
kill -TERM "$server"; wait "$server" || true

# 2. A store with flushes and compactions (tiny memtables), killed while writing.
"$bin/MsgStoreTestHelper" store-writer "$work/store" 2 20 small >/dev/null &
writer=$!
sleep 6
kill -KILL "$writer"; wait "$writer" 2>/dev/null || true

# 3. Files into the corpus (the smallest of each kind, cut to 64 KiB).
python3 - "$work" "$corpus" <<'EOF'
import os, sys, glob
work, corpus = sys.argv[1], sys.argv[2]
LIMIT = 64 << 10
def put(target, name, data, limit=LIMIT):
    with open(os.path.join(corpus, target, name), "wb") as f:
        f.write(data[:limit])
def files(pattern):
    return sorted(glob.glob(os.path.join(work, pattern)), key=os.path.getsize)
for d in ("serve", "store"):
    for i, p in enumerate(files(d + "/*.log")[-2:]):
        put("wal", f"{d}-{i}.log", open(p, "rb").read(), 12 << 10)  # small: the fuzzer is faster on small inputs
    for i, p in enumerate(files(d + "/MANIFEST-*")[-2:]):
        put("manifest", f"{d}-{i}", open(p, "rb").read())
    put("schema", d, open(os.path.join(work, d, "SCHEMA"), "rb").read())
ssts = [p for p in files("store/*.sst") if os.path.getsize(p) <= LIMIT]
for i, p in enumerate(ssts[:2] + ssts[-2:]):
    put("sstable", f"store-{i}.sst", open(p, "rb").read())
for p in glob.glob(os.path.join(work, "serve/queues/*")):
    name = os.path.basename(p)
    for s in glob.glob(p + "/*.qlog"):
        put("queue", f"{name}-{os.path.basename(s)}", open(s, "rb").read())
    if os.path.exists(p + "/CONSUMER.qstate"):
        put("queue-state", name, open(p + "/CONSUMER.qstate", "rb").read())
# Batches: whole records of the WAL segments (full fragments, then first..last).
counts = {}
for p in files("serve/*.log") + files("store/*.log"):
    data, pos, record = open(p, "rb").read(), 0, b""
    d = os.path.basename(os.path.dirname(p))
    count = counts.get(d, 0)
    while pos + 7 <= len(data) and count < 12:
        left = 32768 - pos % 32768
        if left < 7: pos += left; continue
        length, kind = int.from_bytes(data[pos+4:pos+6], "little"), data[pos+6]
        if kind == 0: break
        payload = data[pos+7:pos+7+length]
        pos += 7 + length
        if kind in (1, 2): record = b""
        record += payload
        if kind in (1, 4) and len(record) != 16 and len(record) < 4096:  # not a checkpoint record
            if count % 3 == 0 or len(record) < 200:
                put("batch", f"{d}-{count}", record)
            count += 1
    counts[d] = count
EOF

# 4. Synthetic engine files (FuzzSeedWriter in the test suite).
MSGSTORE_WRITE_FUZZ_SEEDS="$PWD/$corpus" swift test --filter FuzzSeedWriter >/dev/null

# 5. Request bodies, dates, UUIDs.
w() { printf '%s' "$2" >"$corpus/$1"; }
w json/send "{\"sender\": \"$a\", \"content\": \"Hi there \\u00e9\\ud83d\\ude00\"}"
w json/block "{\"blockerId\": \"$a\", \"blockedId\": \"$b\"}"
w json/member "{\"userId\": \"$c\", \"extra\": [1, 2.5e3, null, true, {\"x\": \"y\"}]}"
w json/empty '{}'
w json/nested '{"a": {"b": [[], {}, "\"\\/\b\f\n\r\t"]}}'
w json/not-object '["sender", "content"]'
w json/numbers '{"sender": 12, "content": -0.0e-7}'
w date/wire "$date"
w date/offset '2024-06-24T10:49:53+02:00'
w date/compact-offset '2024-02-29T23:59:60.1234567891-0130'
w date/lower '1970-01-01t00:00:00z'
w date/space '0001-01-01 00:00:00,5Z'
w date/end '9999-12-31T23:59:59.999999Z'
w uuid/lower "$a"
w uuid/upper "$(tr 'a-f' 'A-F' <<<"$g")"
w uuid/mixed '6ba7b810-9DAD-11d1-80B4-00c04fd430c8'
w uuid/braces '{6ba7b810-9dad-11d1-80b4-00c04fd430c8}'
du -sh "$corpus"; find "$corpus" -type f | wc -l
