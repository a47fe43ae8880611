#!/usr/bin/env bash
# Physical limits relevant to a storage engine on this machine:
#   1. disk: fdatasync latency after a 4 KiB append / overwrite (1000 runs each)
#      and sequential write bandwidth (1 GiB, one fdatasync at the end)
#   2. zstd CLI on the workload's concatenated message contents (levels 1-3)
#   3. zstd CLI with a dictionary trained on 100k messages: each of 20k other
#      messages compressed on its own,
#      with and without the dictionary, and 4 KiB blocks with and without it
#   4. libzstd on the same data with engine-style framing (tools/zstd_msgs.c)
# usage: Tools/peers/machine_limits.sh WORKLOAD_DIR [SCRATCH_DIR]
# SCRATCH_DIR (default /tmp/msgbench-limits) holds the test files; it is deleted
# at the end.  Prints every command (lines starting with "$ ") and its output.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$(cd "$here/.." && pwd)"       # Tools/ of the repository
repo_root="$(cd "$tools/.." && pwd)"
wl=${1:?usage: machine_limits.sh WORKLOAD_DIR [SCRATCH_DIR]}
scratch=${2:-/tmp/msgbench-limits}
case "$(realpath -m -- "$scratch")/" in
    "$(realpath -m -- "$repo_root")"/*) echo "refusing a scratch dir inside the repository" >&2; exit 2 ;;
esac
rm -rf -- "$scratch"
mkdir -p -- "$scratch"
make -s -C "$here" >&2

say() { echo "\$ $*"; "$@" 2>&1; }

echo "## machine"
echo "nproc=$(nproc) mem=$(free -g | awk '/Mem:/{print $2}')GiB kernel=$(uname -r) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
echo "fs: $(df -hT "$scratch" | awk 'NR==2{print $2, $1}')"
zstd --version

echo "## disk (scratch on the same filesystem as the databases); 3 repetitions, the disk is shared and noisy"
for rep in 1 2 3; do
    echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
    say "$here/build/disk_limits" "$scratch" 1000 1024
done

echo "## message contents"
say python3 "$tools/bench/extract_contents.py" --workload "$wl" --concat "$scratch/contents.bin" \
    --train-dir "$scratch/train" --train-count 100000 --eval-dir "$scratch/eval" --eval-count 20000

echo "## zstd CLI on the concatenated contents"
say zstd -q -b1 -e3 "$scratch/contents.bin"

echo "## zstd CLI: dictionary trained on 100,000 messages (default size 110 KiB)"
say zstd -q --train -r "$scratch/train" -o "$scratch/dict"
ls -l "$scratch/dict" | awk '{print "dict bytes:", $5}'
echo "## each of 20,000 other messages compressed separately (zstd -b treats every file as its own frame)"
say zstd -q -b1 -e3 -r "$scratch/eval"
say zstd -q -b1 -e3 -D "$scratch/dict" -r "$scratch/eval"
echo "## the contents in 4 KiB blocks, without and with the dictionary"
say zstd -q -b1 -e3 -B4096 "$scratch/contents.bin"
say zstd -q -b1 -e3 -B4096 -D "$scratch/dict" "$scratch/contents.bin"

echo "## libzstd, engine-style frames (magicless, no checksum/size/dictID), 100k train / 100k eval messages"
say "$here/build/zstd_msgs" "$wl/load.bin" --train 100000 --eval 100000 --dict-size 112640 --block 4096
say "$here/build/zstd_msgs" "$wl/load.bin" --train 100000 --eval 100000 --dict-size 16384 --block 4096

rm -rf -- "$scratch"
