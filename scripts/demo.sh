#!/usr/bin/env bash
# The README's demo: builds lunclone, generates a demo source image (random
# data with zero-filled stretches, not a multiple of the region size), and
# hydrates a clone of it offline with a progress bar, then verifies it.
# Usage: scripts/demo.sh [SIZE_MIB] [RATE_MIB_S]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-512}
rate=${2:-128}

bash scripts/install-deps.sh
bash scripts/build.sh build >/dev/null

dir=$(mktemp -d "${TMPDIR:-/tmp}/lunclone-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT

echo "demo: generating a ${size_mib} MiB source image in $dir"
# Random data, with every fourth MiB left zero (hydration skips writing those).
head -c $((size_mib << 20)) /dev/urandom >"$dir/source.img"
for ((i = 0; i < size_mib; i += 4)); do
	dd if=/dev/zero of="$dir/source.img" bs=1M seek=$i count=1 conv=notrunc status=none
done
# An odd tail: the last region is shorter than the others.
head -c 12288 /dev/urandom >>"$dir/source.img"
truncate -s $(( (size_mib << 20) + (64 << 20) )) "$dir/dest.img"

lc=build/cli/lunclone
echo "demo: hydrating at up to $rate MiB/s"
$lc hydrate --format --source "$dir/source.img" --dest "$dir/dest.img" \
	--meta "$dir/clone.meta" --region-size 64K --rate "$rate"
$lc status --meta "$dir/clone.meta"
$lc verify --source "$dir/source.img" --dest "$dir/dest.img" --meta "$dir/clone.meta"
cmp -n "$(stat -c %s "$dir/source.img")" "$dir/source.img" "$dir/dest.img"
echo "demo: destination matches the source"
