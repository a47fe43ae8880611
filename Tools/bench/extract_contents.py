#!/usr/bin/env python3
"""Extract message contents from a workload's load.bin (format: docs/workload.md).

  --concat FILE        all contents concatenated, in send order, no separator
  --train-dir DIR      one file per message for `zstd --train`
  --eval-dir DIR       one file per message, disjoint from the training set,
                       for per-message `zstd -b` with and without a dictionary

Training messages are sends with index % 10 == 0, evaluation messages have
index % 10 == 5 (the first --train-count / --eval-count of each).
"""
import argparse
import os
import struct
import sys

HDR = struct.Struct("<BBHI16s16s16sq")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", required=True, help="workload folder (reads load.bin)")
    ap.add_argument("--concat")
    ap.add_argument("--train-dir")
    ap.add_argument("--train-count", type=int, default=20000)
    ap.add_argument("--eval-dir")
    ap.add_argument("--eval-count", type=int, default=20000)
    a = ap.parse_args()

    for d in (a.train_dir, a.eval_dir):
        if d:
            os.makedirs(d, exist_ok=True)
    out = open(a.concat, "wb", buffering=1 << 22) if a.concat else None
    ntrain = neval = 0
    with open(os.path.join(a.workload, "load.bin"), "rb", buffering=1 << 22) as f:
        magic, n = struct.unpack("<8sQ", f.read(16))
        if magic != b"MSGLOAD1":
            sys.exit("bad magic")
        total = 0
        for i in range(n):
            op, flags, _, clen, *_rest = HDR.unpack(f.read(64))
            c = f.read(clen)
            total += clen
            if out:
                out.write(c)
            if a.train_dir and i % 10 == 0 and ntrain < a.train_count:
                with open(os.path.join(a.train_dir, "%07d" % i), "wb") as g:
                    g.write(c)
                ntrain += 1
            if a.eval_dir and i % 10 == 5 and neval < a.eval_count:
                with open(os.path.join(a.eval_dir, "%07d" % i), "wb") as g:
                    g.write(c)
                neval += 1
    if out:
        out.close()
    print("messages=%d content_bytes=%d train_files=%d eval_files=%d" % (n, total, ntrain, neval), file=sys.stderr)


if __name__ == "__main__":
    main()
