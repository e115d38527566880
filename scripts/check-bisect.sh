#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Bisectability: build QEMU at every patch of the series (applied with
# git am in build/qemu-am by scripts/qemu-build.sh) and run the tests that
# exist at that point: the engine's unit test from patch 1, the RSC qtests
# from the patch that adds them.  Uses its own worktree and build
# directory, build/qemu-bisect, so the main build is left alone; the first
# run is a full build, later ones are incremental.
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"

bash "$ROOT/scripts/qemu-build.sh" > /dev/null
head=$(cut -d' ' -f2 "$ROOT/build/qemu-am.stamp")
base=$(pgit rev-parse pristine)
wt=$ROOT/build/qemu-bisect
ensure_worktree "$wt"
# the configure line of the main build; quote its one value with a space
cfg=$(sed 's/--cc=ccache gcc/"--cc=ccache gcc"/' "$QBUILD/rsc-configure")

for c in $(pgit rev-list --reverse "$base..$head"); do
    subject=$(pgit log -1 --format=%s "$c")
    echo "== $subject"
    git -C "$wt" checkout -q -f --detach "$c"
    if [ ! -f "$wt/build/build.ninja" ]; then
        mkdir -p "$wt/build"
        # shellcheck disable=SC2086  # the saved configure line
        (cd "$wt/build" && eval ../configure $cfg > configure.log 2>&1) ||
            die "configure failed at \"$subject\""
    fi
    targets=(qemu-system-x86_64 tests/qtest/qos-test)
    ninja -C "$wt/build" build.ninja > "$wt/build/ninja.log" 2>&1 ||
        die "meson failed at \"$subject\""
    if grep -q '^build tests/unit/test-net-rsc:' "$wt/build/build.ninja"; then
        targets+=(tests/unit/test-net-rsc)
    fi
    ninja -C "$wt/build" -j2 "${targets[@]}" > "$wt/build/ninja.log" 2>&1 ||
        die "build failed at \"$subject\", see $wt/build/ninja.log"
    fw=$wt/build/qemu-bundle/usr/local/share/qemu
    mkdir -p "$fw"
    for f in /usr/share/seabios/* /usr/lib/ipxe/qemu/* /usr/share/qemu/*; do
        [ -e "$fw/${f##*/}" ] || [ -L "$fw/${f##*/}" ] || ln -s "$f" "$fw/"
    done
    if [ -x "$wt/build/tests/unit/test-net-rsc" ]; then
        "$wt/build/tests/unit/test-net-rsc" > /dev/null ||
            die "test-net-rsc failed at \"$subject\""
    fi
    QTEST_QEMU_BINARY=$wt/build/qemu-system-x86_64 \
        "$wt/build/tests/qtest/qos-test" -m quick > "$wt/build/qos.log" 2>&1 ||
        die "qos-test failed at \"$subject\", see $wt/build/qos.log"
    echo "   builds, $(grep -c '^ok ' "$wt/build/qos.log") qos tests pass"
done
echo "check-bisect: every patch builds and passes its tests"
