#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what building and testing need on a Debian 12 machine.
# Idempotent: a rerun with everything present only checks.
set -euo pipefail

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: must run as root to install packages" >&2
        exit 1
    fi
}

PKGS=(
    # standalone engine, unit tests, tools
    build-essential pkg-config ninja-build ccache libglib2.0-dev
    valgrind clang libclang-rt-14-dev
    # patched QEMU
    libpixman-1-dev zlib1g-dev libslirp-dev libfdt-dev flex bison
    python3-venv git xz-utils dpkg-dev
    # firmware for qtest on the pc machine
    seabios qemu-system-data ipxe-qemu
    # recording real traces
    tcpdump iproute2 nftables ethtool
    # docs checks (scripts/check-docs.sh, check-qemu-docs.sh)
    python3-sphinx python3-sphinx-rtd-theme
    # benchmark (bench/): DPDK GRO to compare with, flow-scaling plot
    libdpdk-dev gnuplot-nox
    # a big-endian host (scripts/check-big-endian.sh): s390x under qemu-user
    gcc-s390x-linux-gnu libc6-dev-s390x-cross qemu-user-static
)

apt_sources() {
    local f=/etc/apt/sources.list.d/rsc-extra.sources
    if [ ! -f "$f" ]; then
        cat > "$f" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        return 0
    fi
    return 1
}

missing=()
for p in "${PKGS[@]}" meson python3-pycotap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing+=("$p")
done
# meson must be >= 1.5 (QEMU 10.0); bookworm's 1.0.1 is too old
if command -v meson >/dev/null; then
    mv=$(meson --version)
    if ! printf '1.5.0\n%s\n' "$mv" | sort -V -C; then
        missing+=(meson)
    fi
fi

# check-big-endian.sh downloads glib for s390x: apt needs that architecture
has_s390x() {
    dpkg --print-foreign-architectures | grep -qx s390x
}

if [ ${#missing[@]} -eq 0 ] && has_s390x &&
   [ -f /etc/apt/sources.list.d/rsc-extra.sources ]; then
    exit 0
fi
need_root
apt_sources || true
has_s390x || dpkg --add-architecture s390x
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${PKGS[@]}"
apt-get install -y -q --no-install-recommends -t bookworm-backports \
    meson python3-pycotap
