#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Patched QEMU under AddressSanitizer and UndefinedBehaviorSanitizer: the
# source tree scripts/qemu-build.sh prepared (build/qemu-src, the series
# applied), configured a second time in its own build directory
# build/qemu-asan with --enable-asan --enable-ubsan, the same features as
# the normal build but TCG (only the Linux guest test needs it), clang and
# ccache.  Builds qemu-system-x86_64, qos-test and the engine's unit test,
# then runs the unit test and every virtio-net qos test: all of ours
# (rsc/*, the trace replay and rsc/malformed included) and QEMU's own.  Fails if a test fails or a sanitizer reports
# anything, in QEMU or in the test programs.
#
#   qemu-asan.sh              build, then run the tests
#   qemu-asan.sh -p PATH ...  build, then run only these qos-test paths
#
# Choices, after QEMU's own CI:
# - clang, as tests/docker/test-debug (--enable-asan --enable-ubsan) and the
#   clang-system job of .gitlab-ci.d/buildtest.yml;
# - -fno-sanitize-recover=undefined, as the clang-system job: UBSan stops
#   at its first report instead of printing and going on;
# - detect_leaks=0, as tests/docker/test-debug: QEMU and libqtest free
#   little at exit by design, and a leak report at exit would not point at
#   a bug.  Leaks in the engine are the unit tests' business (valgrind);
# - halt_on_error=1 and abort_on_error=1 for both sanitizers: the first
#   report aborts the process.  A QEMU that aborts makes libqtest fail the
#   test ("QEMU death from signal 6"), a test program that aborts fails
#   itself; the logs are also searched for reports, so none goes unnoticed
#   even from a process whose exit status nobody checks;
# - print_stacktrace=1 for UBSan (ASan always prints one), symbolized with
#   llvm-symbolizer if installed, else binutils' addr2line;
# - no --enable-debug: the optimized build is the one users run, and
#   sanitizers see the same code; -g comes with the default build type;
# - --disable-werror: this build is for sanitizer reports; clang's warnings
#   are printed after the build, not fatal.
# Needs scripts/qemu-build.sh to have run (for build/qemu-src).
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"

ABUILD=$ROOT/build/qemu-asan
t0=$(date +%s)

[ -x "$SRC/configure" ] ||
    die "no patched QEMU source in build/qemu-src: run scripts/qemu-build.sh first"
command -v clang >/dev/null || die "clang missing: run scripts/deps.sh"
command -v ccache >/dev/null || die "ccache missing: run scripts/deps.sh"
if [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
    echo "qemu-asan: note: build/qemu-src has local edits" >&2
fi
echo "qemu-asan: source $(git -C "$SRC" log -1 --format='%h %s')"

# Configure once (again only if this configure line changes)
cfg=(--python=/usr/bin/python3 --target-list=x86_64-softmmu
     --without-default-features --enable-slirp --disable-tcg --enable-kvm
     --disable-docs --disable-user --disable-tools --disable-guest-agent
     --disable-download --disable-install-blobs
     --enable-asan --enable-ubsan --disable-werror
     --extra-cflags=-fno-sanitize-recover=undefined
     "--cc=ccache clang" "--host-cc=clang")
qemu_configure "$SRC" "$ABUILD" "${cfg[@]}"
link_firmware "$ABUILD"

qemu_ninja "$ABUILD"
tail -1 "$ABUILD/ninja.log"
if grep -q 'warning:' "$ABUILD/ninja.log"; then
    echo "qemu-asan: clang warnings (not fatal here):" >&2
    grep -A3 'warning:' "$ABUILD/ninja.log" | head -40 >&2
fi
echo "qemu-asan: built in $(( $(date +%s) - t0 )) s (build/qemu-asan)"

# Sanitizer settings: see the header
sym=
if command -v llvm-symbolizer >/dev/null; then
    ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
    export ASAN_SYMBOLIZER_PATH
else
    sym=:allow_addr2line=1
fi
common="halt_on_error=1:abort_on_error=1:print_stacktrace=1$sym"
export ASAN_OPTIONS="detect_leaks=0:$common"
export UBSAN_OPTIONS="$common:report_error_type=1"
export QTEST_QEMU_BINARY=$ABUILD/qemu-system-x86_64
if [ -z "${RSC_REPLAY_TRACES:-}" ]; then
    shopt -s nullglob
    traces=("$ROOT"/tests/data/*.pcap)
    shopt -u nullglob
    RSC_REPLAY_TRACES=$(IFS=:; echo "${traces[*]}")
    export RSC_REPLAY_TRACES RSC_REPLAY_OUT=$ROOT/build/qemu-asan-test/replay.jsonl
fi

log=$ROOT/build/qemu-asan-test
rm -rf "$log"
mkdir -p "$log"
fail=0
reports='ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer'

# Run a GTest binary in TAP mode; print its counts; remember failures.
run_tap() {
    local name=$1; shift
    local out=$log/$name.tap rc=0 t1=$SECONDS
    timeout 1800 "$@" --tap -k > "$out" 2>&1 || rc=$?
    local ok skip bad san
    ok=$(grep -c '^ok ' "$out" || true)
    skip=$(grep -c '^ok .*# SKIP' "$out" || true)
    bad=$(grep -c '^not ok ' "$out" || true)
    san=$(grep -E -c "$reports" "$out" || true)
    printf '%-14s %4d passed (%d skipped), %d failed, %d sanitizer report(s), exit %d, %d s\n' \
        "$name" "$((ok - skip))" "$skip" "$bad" "$san" "$rc" "$((SECONDS - t1))"
    if [ "$rc" != 0 ] || [ "$bad" != 0 ] || [ "$ok" = 0 ] || [ "$san" != 0 ]; then
        grep -E -A25 "$reports" "$out" | head -60 >&2 || true
        grep -E '^not ok |^# (ERROR|Bail)|assertion|QEMU death' "$out" | head -20 >&2 || true
        echo "  full output: build/qemu-asan-test/$name.tap" >&2
        fail=1
    fi
}

qos=$ABUILD/tests/qtest/qos-test
if [ $# -eq 0 ]; then
    [ -x "$ABUILD/tests/unit/test-net-rsc" ] ||
        die "no $ABUILD/tests/unit/test-net-rsc: the series was not built"
    run_tap test-net-rsc "$ABUILD/tests/unit/test-net-rsc"
    # every virtio-net qos test: ours (rsc/*) and QEMU's own
    mapfile -t paths < <("$qos" -l 2>/dev/null | grep -E '/virtio-net(-pci)?/|/rsc/' | sort -u)
    [ ${#paths[@]} -gt 0 ] || die "qos-test lists no virtio-net test"
    grep -q '/rsc/malformed$' <(printf '%s\n' "${paths[@]}") ||
        die "qos-test has no rsc/malformed test"
    args=()
    for p in "${paths[@]}"; do
        args+=(-p "$p")
    done
    echo "qemu-asan: ${#paths[@]} qos-test paths ($(printf '%s\n' "${paths[@]}" | grep -c /rsc/) of them rsc/*)"
    run_tap qos-test "$qos" "${args[@]}"
else
    run_tap qos-test "$qos" "$@"
fi
if [ "$fail" != 0 ]; then
    die "failures or sanitizer reports under ASan/UBSan"
fi
echo "qemu-asan: all passed, no sanitizer report, $(( $(date +%s) - t0 )) s in all"
