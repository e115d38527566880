#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build stock QEMU, the pristine Debian source without the series,
# configured like the patched build (scripts/qemu-build.sh, which runs
# first), into build/qemu-stock: qemu-system-x86_64 only.  ccache shares
# every object that the series does not change.  Prints the binary's path.
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"

bash "$ROOT/scripts/qemu-build.sh" > /dev/null
stock_dir=$ROOT/build/qemu-stock
# the patched build's configure line; quote its one value with a space
cfg=()
eval "cfg=($(sed 's/--cc=ccache gcc/"--cc=ccache gcc"/' "$QBUILD/rsc-configure"))"
qemu_configure "$PRISTINE" "$stock_dir" "${cfg[@]}" >&2
link_firmware "$stock_dir" >&2
ninja -C "$stock_dir" qemu-system-x86_64 > "$stock_dir/ninja.log" ||
    die "building stock QEMU failed: see $stock_dir/ninja.log"
echo "$stock_dir/qemu-system-x86_64"
