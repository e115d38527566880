#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Bisectability: build QEMU at every patch of the series (the commits that
# scripts/qemu-build.sh made with git am onto pristine QEMU) and run the
# tests that exist there: the engine's unit test from patch 3 on, and
# QEMU's x86_64 qos tests (-m quick), which hold the RSC qtests from the
# patch that adds them.  A patch fails if it does not configure, build or
# pass.
#
# It uses its own worktree and build directory, build/qemu-bisect, with
# the main build's configure line, so build/qemu-src is left alone.  The
# first run configures and builds everything once, but nearly every file
# is the same at patch 1 as in the main build and comes from ccache
# (qemu-lib.sh lets build directories share its entries); later patches
# rebuild only what they change.
#
#   check-bisect.sh              build and test every patch
#   check-bisect.sh --tip-tested build every patch, test all but the last:
#                                scripts/qemu-test.sh has just tested the
#                                last one in build/qemu-src (scripts/test.sh)
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"

tip_tested=false
case ${1:-} in
--tip-tested) tip_tested=true ;;
'') ;;
*) die "usage: check-bisect.sh [--tip-tested]" ;;
esac

t0=$SECONDS
bash "$ROOT/scripts/qemu-build.sh" > /dev/null
head=$(cut -d' ' -f2 "$ROOT/build/qemu-am.stamp")
base=$(pgit rev-parse pristine)
wt=$ROOT/build/qemu-bisect
ensure_worktree "$wt"
# the configure line of the main build; quote its one value with a space
cfg=$(sed 's/--cc=ccache gcc/"--cc=ccache gcc"/' "$QBUILD/rsc-configure")
if [ -f "$wt/build/build.ninja" ] &&
   [ "$(cat "$wt/build/rsc-configure" 2>/dev/null)" != "$cfg" ]; then
    rm -rf "$wt/build"
fi

commits=$(pgit rev-list --reverse "$base..$head")
n=$(echo "$commits" | wc -l)
i=0
for c in $commits; do
    i=$((i + 1))
    t1=$SECONDS
    subject=$(pgit log -1 --format=%s "$c")
    echo "== $i/$n $subject"
    git -C "$wt" checkout -q -f --detach "$c"
    if [ ! -f "$wt/build/build.ninja" ]; then
        rm -rf "$wt/build"
        mkdir -p "$wt/build"
        # shellcheck disable=SC2086  # the saved configure line
        (cd "$wt/build" && eval ../configure $cfg > configure.log 2>&1) ||
            die "configure failed at \"$subject\", see $wt/build/configure.log"
        echo "$cfg" > "$wt/build/rsc-configure"
    fi
    qemu_ninja "$wt/build" > /dev/null
    built=$(grep -c '^\[' "$wt/build/ninja.log" || true)
    if $tip_tested && [ "$c" = "$head" ]; then
        echo "   builds ($built steps, $((SECONDS - t1)) s); tests: those" \
             "scripts/qemu-test.sh ran on this tree"
        continue
    fi
    link_firmware "$wt/build"
    units=
    if [ -x "$wt/build/tests/unit/test-net-rsc" ]; then
        "$wt/build/tests/unit/test-net-rsc" > "$wt/build/unit.log" 2>&1 ||
            die "test-net-rsc failed at \"$subject\", see $wt/build/unit.log"
        units="test-net-rsc passes, "
    fi
    QTEST_QEMU_BINARY=$wt/build/qemu-system-x86_64 \
        "$wt/build/tests/qtest/qos-test" -m quick > "$wt/build/qos.log" 2>&1 ||
        die "qos-test failed at \"$subject\", see $wt/build/qos.log"
    echo "   builds ($built steps), ${units}$(grep -c '^ok ' "$wt/build/qos.log")" \
         "qos tests pass ($((SECONDS - t1)) s)"
done
echo "check-bisect: all $n patches build and pass their tests ($((SECONDS - t0)) s)"
