#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build QEMU's whole HTML manual from the patched source (build/qemu-src,
# made by scripts/qemu-build.sh) the way QEMU does with --enable-docs, and
# check that our page is in it and linked from the device emulation index.
#
# Configures build/qemu-src in its own build directory, build/qemu-docs,
# with the docs and as little else as configure allows, and
# --enable-werror, which makes QEMU's docs/meson.build run sphinx-build
# with -W (warnings are errors).  Then `ninja html` runs Sphinx on
# docs/ into build/qemu-docs/docs/manual; nothing is compiled.  A rerun
# with nothing changed takes seconds (ninja follows Sphinx's depfile).
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"

t0=$SECONDS
docs=$ROOT/build/qemu-docs
page=system/devices/virtio-net-rsc
[ -f "$SRC/docs/$page.rst" ] ||
    die "no $page.rst in build/qemu-src: run scripts/qemu-build.sh first"
command -v sphinx-build >/dev/null ||
    die "sphinx-build missing: run scripts/deps.sh (python3-sphinx)"

cfg=(--python=/usr/bin/python3 --target-list=x86_64-softmmu
     --without-default-features --enable-docs --enable-werror
     --disable-tcg --enable-kvm --disable-user --disable-tools
     --disable-guest-agent --disable-download --disable-install-blobs)
qemu_configure "$SRC" "$docs" "${cfg[@]}"
grep -qE "Documentation *: *YES" "$docs/configure.log" ||
    die "configure left the docs off, see build/qemu-docs/configure.log"
grep -q -- "sphinx-build.* -W " "$docs/build.ninja" ||
    die "build.ninja does not run sphinx-build with -W"

if ! ninja -C "$docs" html > "$docs/ninja.log" 2>&1; then
    grep -v '^/usr/bin/env ' "$docs/ninja.log" | tail -20 >&2
    die "the QEMU manual does not build without warnings, see build/qemu-docs/ninja.log"
fi

html=$docs/docs/manual
[ -f "$html/$page.html" ] ||
    die "$page.html is not in the built manual"
grep -q 'receive segment coalescing' "$html/$page.html" ||
    die "$page.html does not hold our page"
grep -q 'href="devices/virtio-net-rsc.html"' "$html/system/device-emulation.html" ||
    die "system/device-emulation.html does not link devices/virtio-net-rsc.html"
echo "check-qemu-docs: QEMU's manual builds with Sphinx -W;" \
     "$page.html is linked from system/device-emulation.html" \
     "($((SECONDS - t0)) s)"
