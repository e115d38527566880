#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the libFuzzer target (clang, ASan + UBSan, build dir build/fuzz)
# and fuzz the RSC engine for SECONDS (default 60) on one core, from
# fuzz/corpus plus a scratch corpus kept in build/fuzz-corpus:
#
#   bash fuzz/run.sh [SECONDS] [extra libFuzzer options]
#
# Exits 1 on any finding (crash, oracle failure, leak, timeout, OOM),
# after copying the input into fuzz/regressions/ (rerun it with
# build/fuzz/fuzz/fuzz-rsc FILE, or fuzz-replay -v FILE for a trace).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

secs=${1:-60}
shift || true
build=${BUILD:-build/fuzz}

src=$root
# what an older version of this script left: an overlay of the tree
rm -rf build/fuzz-src
# a build dir configured from another tree is redone
if [ -f "$build/build.ninja" ] &&
   [ "$(cat "$build/.fuzz-src" 2>/dev/null)" != "$src" ]; then
    rm -rf "$build"
fi
if [ ! -f "$build/build.ninja" ]; then
    CC=${CC:-clang} meson setup "$build" "$src" >/dev/null
    echo "$src" > "$build/.fuzz-src"
fi
ninja -C "$build" fuzz/fuzz-rsc >/dev/null

scratch=build/fuzz-corpus
artifacts=$build/artifacts
mkdir -p "$scratch" "$artifacts" fuzz/regressions
rm -f "$artifacts"/*

# glib's slice allocator hides frees from libFuzzer's leak check; a
# smaller ASan quarantine keeps memory warm (several times the exec/s)
export G_SLICE=always-malloc
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=32}

rc=0
"$build/fuzz/fuzz-rsc" -max_len=70000 -timeout=10 -rss_limit_mb=2048 \
    -max_total_time="$secs" -print_final_stats=1 \
    -entropic_scale_per_exec_time=1 \
    -artifact_prefix="$artifacts/" "$@" "$scratch" fuzz/corpus || rc=$?

found=0
for f in "$artifacts"/*; do
    [ -e "$f" ] || continue
    cp "$f" fuzz/regressions/
    echo "run.sh: finding saved as fuzz/regressions/${f##*/}" >&2
    found=1
done
if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    echo "run.sh: fuzzer failed (exit $rc)" >&2
    exit 1
fi
