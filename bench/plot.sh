#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Flow scaling of the RSC engine: runs rsc-bench on the bulk workloads
# (1 to 4096 interleaved flows) and draws ns/segment against flows into
# bench/flows.png with gnuplot (Debian gnuplot-nox).
#   bash bench/plot.sh [extra rsc-bench options]
set -euo pipefail
cd "$(dirname "$0")/.."

out=bench/flows.png
if ! command -v gnuplot >/dev/null; then
    echo "plot.sh: gnuplot not installed (apt-get install gnuplot-nox)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
csv=$tmp/flows.csv

bash bench/run.sh --bulk-only --flows 1,4,16,64,256,1024,4096 \
    --csv "$csv" "$@"

# columns: workload,flows,segments,engine_ns,engine_copy_ns,memcpy_ns,
#          dpdk_ns,dpdk_ctx_ns,...
plot="'$csv' using 2:4 with linespoints lw 2 pt 7 title 'engine'"
plot+=", '' using 2:5 with linespoints lw 2 pt 5"
plot+=" title 'engine + memcpy of each packet (copy to guest)'"
plot+=", '' using 2:6 with linespoints lw 2 pt 9 dt 2"
plot+=" title 'memcpy floor (each payload copied once)'"
if awk -F, 'NR > 1 && $7 != "nan" { found = 1 } END { exit !found }' \
    "$csv"; then
    plot+=", '' using 2:7 with linespoints lw 2 pt 11"
    plot+=" title 'DPDK GRO, reassemble\\_burst (32)'"
    plot+=", '' using 2:8 with linespoints lw 2 pt 13"
    plot+=" title 'DPDK GRO, context flushed every 4 bursts'"
fi

gnuplot <<GP
set terminal pngcairo size 1000,620 font ",11"
set output '$out'
set datafile separator ','
set datafile missing 'nan'
set title "RSC engine: cost per segment vs interleaved TCP/IPv4 flows\n\
(MSS 1448, timestamps, round-robin; median of runs; lower is better)"
set logscale x 2
set logscale y 10
set xrange [0.7:6000]
set xtics (1, 4, 16, 64, 256, 1024, 4096)
set xlabel 'interleaved flows'
set ylabel 'ns per segment (log scale)'
set grid xtics ytics mytics
set key top left box opaque
plot $plot
GP
echo "plot.sh: wrote $out"
