#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The engine on a big-endian host: cross-build the standalone engine, unit
# tests and tools for s390x (QEMU supports it as a host), run them under
# qemu-user, and check that rsc-replay there delivers exactly what it
# delivers on this machine: the same packets byte for byte, the same
# header fields, the same statistics, for every replay test of
# tests/replay/meson.build (taken from the native build's test list).
# Headers are built with explicit byte order, but checksums are summed in
# native words: this is where a byte-order mistake would show.
#
# Needs what scripts/deps.sh installs (s390x cross compiler, qemu-user,
# dpkg architecture s390x); glib for s390x is unpacked from Debian's
# packages into build/s390x/sysroot, not installed.
#
#   bash scripts/check-big-endian.sh
# Exit status 77: the s390x glib packages could not be downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

top=$PWD
dir=$top/build/s390x
sysroot=$dir/sysroot
libdir=$sysroot/usr/lib/s390x-linux-gnu
native=build/standalone/tools/rsc-replay
cross=$dir/build
run=(qemu-s390x-static -L /usr/s390x-linux-gnu)

for tool in s390x-linux-gnu-gcc qemu-s390x-static; do
    command -v "$tool" > /dev/null || {
        echo "check-big-endian: $tool missing: run scripts/deps.sh" >&2
        exit 1
    }
done
[ -x "$native" ] || {
    echo "check-big-endian: no $native: run scripts/setup.sh" >&2
    exit 1
}

# glib and what linking against it needs, unpacked, not installed: the
# host's packages may be newer than the s390x ones on the mirror, which
# dpkg's multiarch rules would refuse to install side by side
if [ ! -f "$libdir/pkgconfig/glib-2.0.pc" ] ||
   [ ! -e "$libdir/libpcre2-8.so.0" ]; then
    rm -rf "$dir/debs" "$sysroot"
    mkdir -p "$dir/debs"
    if ! (cd "$dir/debs" &&
          apt-get download -q -o APT::Sandbox::User=root \
              libglib2.0-dev:s390x libglib2.0-0:s390x \
              libpcre2-8-0:s390x libpcre2-dev:s390x); then
        echo "check-big-endian: could not download glib for s390x" >&2
        exit 77
    fi
    for deb in "$dir"/debs/*.deb; do
        dpkg-deb -x "$deb" "$sysroot"
    done
fi

# RPATH rather than RUNPATH, so that libglib finds libpcre2 there too
cat > "$dir/cross.ini" <<EOF
[binaries]
c = 's390x-linux-gnu-gcc'
ar = 's390x-linux-gnu-ar'
strip = 's390x-linux-gnu-strip'
pkg-config = 'pkg-config'
exe_wrapper = ['qemu-s390x-static', '-L', '/usr/s390x-linux-gnu']

[built-in options]
c_link_args = ['-Wl,--disable-new-dtags', '-Wl,-rpath=$libdir',
               '-Wl,-rpath-link=$libdir']

[properties]
pkg_config_libdir = '$libdir/pkgconfig'
sys_root = '$sysroot'

[host_machine]
system = 'linux'
cpu_family = 's390x'
cpu = 's390x'
endian = 'big'
EOF
if [ ! -f "$cross/build.ninja" ]; then
    meson setup --cross-file "$dir/cross.ini" "$cross" > "$dir/setup.log" ||
        { cat "$dir/setup.log" >&2; exit 1; }
fi
ninja -C "$cross" > /dev/null

if ! readelf -h "$cross/tools/rsc-replay" | grep -q "big endian"; then
    echo "check-big-endian: $cross/tools/rsc-replay is not big-endian" >&2
    exit 1
fi

echo "-- unit tests, replays, fuzz regressions on s390x (qemu-user)"
if ! meson test -C "$cross" --no-rebuild --print-errorlogs \
        > "$dir/test.log" 2>&1; then
    cat "$dir/test.log" >&2
    exit 1
fi
grep -E '^(Ok|Fail|Skipped|Timeout):' "$dir/test.log"

echo "-- rsc-replay on s390x against $(uname -m), every replay test"
# the replay tests of tests/replay/meson.build, as the native build has
# them: one argument per line, a blank line between tests
mapfile -t lines < <(meson introspect build/standalone --tests |
    python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if any(s.endswith(":replay") for s in t["suite"]):
        print("\n".join(t["cmd"][1:]) + "\n")
')
out=$dir/replay
rm -rf "$out"
mkdir -p "$out"
bad=0
n=0
args=()
for line in "${lines[@]}"; do
    if [ -n "$line" ]; then
        args+=("$line")
        continue
    fi
    for host in native s390x; do
        p=$out/$host
        if [ "$host" = native ]; then
            cmd=("$native")
        else
            cmd=("${run[@]}" "$cross/tools/rsc-replay")
        fi
        "${cmd[@]}" "${args[@]}" --out-pcap "$p.pcap" \
            --out-json "$p.json" > "$p.txt" ||
            { echo "FAIL $host: rsc-replay ${args[*]}" >&2; bad=1; }
    done
    for ext in pcap json txt; do
        if ! cmp -s "$out/native.$ext" "$out/s390x.$ext"; then
            echo "DIFFER ($ext): rsc-replay ${args[*]}" >&2
            diff "$out/native.$ext" "$out/s390x.$ext" | head -5 >&2 || true
            bad=1
        fi
    done
    n=$((n + 1))
    args=()
done
if [ "$bad" != 0 ] || [ "$n" = 0 ]; then
    echo "check-big-endian: $n replays compared, not all identical" >&2
    exit 1
fi
echo "$n replays: packets, header fields and statistics identical"
