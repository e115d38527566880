#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run the QEMU tests of the series, after scripts/qemu-build.sh: the RSC
# engine's unit test built inside QEMU, and every x86_64 qos-test (QEMU's
# own, all virtio-net ones included, and ours once the series adds them to
# qos-test).  qtest runs QEMU with -accel qtest: no KVM, no TCG needed.
# Exits non-zero if any test fails.
#
#   qemu-test.sh                 all of the above
#   qemu-test.sh -p PATH ...     only qos-test paths under PATH (glib -p/-s)
#   qemu-test.sh --path NAME     print the full qos-test path ending in /NAME
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"

qemu=$QBUILD/qemu-system-x86_64
qos=$QBUILD/tests/qtest/qos-test
unit=$QBUILD/tests/unit/test-net-rsc
[ -x "$qemu" ] && [ -x "$qos" ] ||
    die "no QEMU build in build/qemu-src/build: run scripts/qemu-build.sh first"
export QTEST_QEMU_BINARY=$qemu
# rsc/replay (once the series has it) replays every bundled real trace
if [ -z "${RSC_REPLAY_TRACES:-}" ]; then
    RSC_REPLAY_TRACES=$(ls "$ROOT"/tests/data/*.pcap 2>/dev/null | paste -sd:)
    export RSC_REPLAY_TRACES RSC_REPLAY_OUT=$ROOT/build/qemu-test/replay.jsonl
    export RSC_REPLAY_GSO_OUT=$ROOT/build/qemu-test/replay-gso.jsonl
fi

if [ "${1:-}" = --path ]; then
    [ -n "${2:-}" ] || die "--path needs a test name"
    p=$("$qos" -l | grep -E "/$2\$" | head -1 || true)
    [ -n "$p" ] || die "no qos-test path ends in /$2"
    echo "$p"
    exit 0
fi

log=$ROOT/build/qemu-test
mkdir -p "$log"
fail=0

# Run a GTest binary in TAP mode; print its counts; remember failures.
run_tap() {
    local name=$1; shift
    local out=$log/$name.tap rc=0 t0=$SECONDS
    timeout 900 "$@" --tap -k > "$out" 2>&1 || rc=$?
    local ok skip bad
    ok=$(grep -c '^ok ' "$out" || true)
    skip=$(grep -c '^ok .*# SKIP' "$out" || true)
    bad=$(grep -c '^not ok ' "$out" || true)
    printf '%-14s %4d passed (%d skipped), %d failed, exit %d, %d s\n' \
        "$name" "$((ok - skip))" "$skip" "$bad" "$rc" "$((SECONDS - t0))"
    if [ "$rc" != 0 ] || [ "$bad" != 0 ] || [ "$ok" = 0 ]; then
        grep -E '^not ok |^# (ERROR|Bail)|ERROR|assertion' "$out" | head -20 >&2 || true
        echo "  full output: build/qemu-test/$name.tap" >&2
        fail=1
    fi
}

if [ $# -eq 0 ]; then
    # patch 3 of the series adds it: its absence is a build problem
    [ -x "$unit" ] || die "no $unit: the series was not built"
    run_tap test-net-rsc "$unit"
fi
run_tap qos-test "$qos" "$@"
nn=$(grep -c '^ok [0-9]* .*virtio-net' "$log/qos-test.tap" || true)
echo "qos-test: $nn virtio-net test(s) passed"
if [ "$fail" != 0 ]; then
    die "some QEMU tests failed"
fi
echo "qemu-test: all passed"
