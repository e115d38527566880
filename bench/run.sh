#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the benchmark in release mode (build/bench: -O3, engine included)
# and run it from the repository root, so that tests/data/*.pcap are found.
#   bash bench/run.sh [rsc-bench options]       (--help lists them)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD:-build/bench}
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" bench/rsc-bench >/dev/null
exec "$build/bench/rsc-bench" "$@"
