#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build docs/system/devices/virtio-net-rsc.rst alone with Sphinx and the
# Read the Docs theme, warnings as errors, in a minimal project of its
# own, and check that the patched QEMU source lists it in the device
# emulation index.  scripts/check-qemu-docs.sh builds QEMU's whole manual,
# with its own configuration, and takes minutes; this takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

src=build/qemu-src/docs
[ -f "$src/system/devices/virtio-net-rsc.rst" ] ||
    { echo "check-docs: run scripts/qemu-build.sh first" >&2; exit 1; }
grep -q 'devices/virtio-net-rsc.rst' "$src/system/device-emulation.rst" ||
    { echo "check-docs: page missing from the docs index" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/system/devices"
cp docs/system/devices/virtio-net-rsc.rst "$work/src/system/devices/"
cat > "$work/src/index.rst" <<'RST'
Index
=====

.. toctree::

   system/devices/virtio-net-rsc
RST
cat > "$work/src/conf.py" <<'PY'
project = 'QEMU'
html_theme = 'sphinx_rtd_theme'
PY
sphinx-build -q -W --keep-going -b html "$work/src" "$work/out"
echo "check-docs: virtio-net-rsc.rst builds without warnings"
