#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Test command of the README: every test, after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# Run a check that exits 77 when it cannot get its Debian packages: say
# so and go on; any other failure stops the tests.
#   skippable "WHY IT WAS SKIPPED" COMMAND...
skippable() {
    local why=$1 rc=0
    shift
    "$@" || rc=$?
    if [ "$rc" = 77 ]; then
        echo "(skipped: $why)"
    elif [ "$rc" != 0 ]; then
        exit "$rc"
    fi
}

echo "== standalone unit tests and trace replays"
meson test -C build/standalone --print-errorlogs

echo "== unit tests and trace replays under valgrind memcheck"
meson test -C build/standalone --print-errorlogs --no-rebuild \
    --wrapper 'valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite -q'

echo "== a big-endian host: s390x build under qemu-user, replays as on this one"
skippable "glib for s390x could not be downloaded" \
    bash scripts/check-big-endian.sh

echo "== fuzzing the engine for 60 s (libFuzzer, ASan, UBSan, stream oracle)"
bash fuzz/run.sh 60

echo "== instructions per segment against bench/instructions-baseline.txt"
bash bench/callgrind-check.sh

echo "== the series: git format-patch with cover letter, checkpatch on every patch"
bash scripts/series.sh

echo "== QEMU qtests with the series applied"
# a no-op after setup.sh, unless series/ changed since: then rebuild, so
# that the tree tested here is the last patch check-bisect.sh builds
bash scripts/qemu-build.sh > /dev/null
bash scripts/qemu-test.sh

echo "== a real Linux guest (TCG) downloads a file with rx_coalesce on and off"
skippable "the Linux guest test could not get its Debian packages" \
    bash tests/guest/linux-guest-test.sh \
    --qemu build/qemu-src/build/qemu-system-x86_64

echo "== the same guest migrated live: stock QEMU to patched and back, patched to patched, guest_rsc_ext=on both ways"
# Device defaults across versions: the migration stream and the guest's
# network must survive both ways; then rx_coalesce on and off, the
# destination's packets compared as above.
stock=$(bash scripts/qemu-stock.sh)
patched=build/qemu-src/build/qemu-system-x86_64
skippable "the Linux guest test could not get its Debian packages" \
    bash tests/guest/linux-guest-test.sh --qemu "$stock" \
    --migrate-to "$patched" --only off --off-opts ""
skippable "the Linux guest test could not get its Debian packages" \
    bash tests/guest/linux-guest-test.sh --qemu "$patched" \
    --migrate-to "$stock" --only off --off-opts ""
skippable "the Linux guest test could not get its Debian packages" \
    bash tests/guest/linux-guest-test.sh --qemu "$patched" \
    --migrate-to "$patched"
# guest_rsc_ext=on with user networking (no virtio-net header): stock to
# patched; back to stock with the properties that keep QEMU 10.0's guest
# features and migration stream (without them the destination refuses
# the features the series offers there)
skippable "the Linux guest test could not get its Debian packages" \
    bash tests/guest/linux-guest-test.sh --qemu "$stock" \
    --migrate-to "$patched" --only off --off-opts ",guest_rsc_ext=on"
skippable "the Linux guest test could not get its Debian packages" \
    bash tests/guest/linux-guest-test.sh --qemu "$patched" \
    --migrate-to "$stock" --only off \
    --off-opts ",guest_rsc_ext=on,x-rsc-no-vnet-hdr=off,x-rsc-migrate=off" \
    --migrate-opts ",guest_rsc_ext=on"

echo "== patched QEMU under ASan and UBSan: unit test, virtio-net qos tests"
bash scripts/qemu-asan.sh

echo "== replay through QEMU vs the engine alone"
bash scripts/check-replay-ratio.sh

echo "== bisectability: QEMU builds at every patch, and passes its tests"
bash scripts/check-bisect.sh --tip-tested

echo "== docs: virtio-net-rsc.rst with Sphinx, warnings as errors"
bash scripts/check-docs.sh

echo "== docs: QEMU's manual (--enable-docs, Sphinx -W) holds and links our page"
bash scripts/check-qemu-docs.sh
