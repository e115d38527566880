#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Instructions per segment of the RSC engine, counted by callgrind on a
# fixed synthetic workload (16 flows, 20000 segments; setup excluded with
# --toggle-collect).  Fails if more than 10% above the number in
# bench/instructions-baseline.txt; prints both.
#
#   bash bench/callgrind-check.sh [BUILD_DIR]   (default build/standalone)
#   UPDATE=1 bash bench/callgrind-check.sh      write the baseline
#   ANNOTATE=1 bash bench/callgrind-check.sh    also show where Ir goes
#
# The baseline holds for BUILD_DIR's configuration (build/standalone is
# buildtype=debugoptimized, the engine at -O2) and Debian 12's gcc.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build/standalone}
bin=$build/bench/rsc-bench
baseline_file=bench/instructions-baseline.txt
tolerance=10    # percent

if [ -f "$build/build.ninja" ]; then
    ninja -C "$build" bench/rsc-bench >/dev/null
fi
if [ ! -x "$bin" ]; then
    echo "callgrind-check: $bin not built (subdir('bench') in meson.build?)" >&2
    exit 1
fi
if ! command -v valgrind >/dev/null; then
    echo "callgrind-check: valgrind not installed" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
    --toggle-collect=callgrind_run "$bin" --callgrind \
    >"$tmp/out" 2>"$tmp/err" || {
    cat "$tmp/out" "$tmp/err" >&2
    exit 1
}
segs=$(sed -n 's/^callgrind-segments: \([0-9]*\)$/\1/p' "$tmp/out")
ir=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$tmp/cg.out")
if [ -z "$ir" ]; then
    ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$tmp/cg.out")
fi
if [ -z "$segs" ] || [ -z "$ir" ] || [ "$ir" = 0 ]; then
    echo "callgrind-check: no count (segments '$segs', Ir '$ir')" >&2
    exit 1
fi
per_seg=$(awk -v i="$ir" -v s="$segs" 'BEGIN { printf "%.1f", i / s }')

if [ "${ANNOTATE:-0}" = 1 ]; then
    callgrind_annotate "$tmp/cg.out" 2>/dev/null |
        sed -n '/file:function/,/^$/p' | head -15
fi
if [ "${UPDATE:-0}" = 1 ]; then
    {
        echo "# Instructions (callgrind Ir) per segment, rsc-bench --callgrind:"
        echo "# 16 flows, 20000 segments, NULL virtio-net header" \
             "(engine verifies"
        echo "# checksums), only callgrind_run() counted."
        echo "# Build: $build, $(cc --version | head -1)."
        echo "# bench/callgrind-check.sh fails above +$tolerance%;"
        echo "# rewrite with UPDATE=1 bash bench/callgrind-check.sh"
        echo "$per_seg"
    } >"$baseline_file"
    echo "callgrind-check: baseline set to $per_seg Ir/segment"
    exit 0
fi

baseline=$(grep -v '^#' "$baseline_file" | grep -m1 -E '^[0-9.]+$' || true)
if [ -z "$baseline" ]; then
    echo "callgrind-check: no number in $baseline_file" >&2
    exit 1
fi
limit=$(awk -v b="$baseline" -v t="$tolerance" \
    'BEGIN { printf "%.1f", b * (100 + t) / 100 }')
echo "callgrind-check: $ir Ir / $segs segments = $per_seg Ir/segment;" \
     "baseline $baseline, limit $limit (+$tolerance%)"
if awk -v m="$per_seg" -v l="$limit" 'BEGIN { exit !(m > l) }'; then
    echo "callgrind-check: FAIL: more than $tolerance% above the baseline"
    exit 1
fi
if awk -v m="$per_seg" -v b="$baseline" -v t="$tolerance" \
    'BEGIN { exit !(m < b * (100 - t) / 100) }'; then
    echo "callgrind-check: more than $tolerance% below the baseline:" \
         "consider UPDATE=1"
fi
echo "callgrind-check: PASS"
