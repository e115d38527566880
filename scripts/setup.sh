#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Set-up command of the README: install what is needed (Debian 12, root),
# build the standalone engine and tools, build patched QEMU, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

echo "== standalone engine, unit tests and tools"
if [ ! -f build/standalone/build.ninja ]; then
    meson setup build/standalone
fi
ninja -C build/standalone

echo "== patched QEMU"
bash scripts/qemu-build.sh

bash scripts/demo.sh
