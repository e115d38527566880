#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Test command of the README: every test, after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== standalone unit tests and trace replays"
meson test -C build/standalone --print-errorlogs

echo "== unit tests and trace replays under valgrind memcheck"
meson test -C build/standalone --print-errorlogs --no-rebuild \
    --wrapper 'valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite -q'

echo "== fuzzing the engine for 60 s (libFuzzer, ASan, UBSan, stream oracle)"
bash fuzz/run.sh 60

echo "== instructions per segment against bench/instructions-baseline.txt"
bash bench/callgrind-check.sh

echo "== QEMU qtests with the series applied"
bash scripts/qemu-test.sh

echo "== patched QEMU under ASan and UBSan: unit test, virtio-net qos tests"
bash scripts/qemu-asan.sh

echo "== replay through QEMU vs the engine alone"
bash scripts/check-replay-ratio.sh

echo "== docs: virtio-net-rsc.rst with Sphinx, warnings as errors"
bash scripts/check-docs.sh
