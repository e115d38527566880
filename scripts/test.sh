#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Test command of the README: every test, after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== standalone unit tests and trace replays"
meson test -C build/standalone --print-errorlogs

echo "== QEMU qtests with the series applied"
bash scripts/qemu-test.sh
