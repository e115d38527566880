#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Fetch the newest QEMU 10.0.x source Debian (trixie deb-src, added by
# scripts/deps.sh) offers, and put its pristine upstream tarball (no Debian
# patches) into build/qemu-pristine as a git repository whose single root
# commit, branch "pristine", has a deterministic hash.  Does nothing when
# build/qemu-pristine already holds that version.
#
# One edit is made before committing, because configure fails without it:
# meson.build unpacks the EDK2 firmware blobs whenever bzip2 is installed,
# but Debian's +ds tarball has them stripped.  The series never touches that
# line, so patches/ still apply to upstream QEMU.
#
# On a version change the repository is kept (worktrees made from it stay
# valid): the new root commit replaces branch "pristine" and its work tree.
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"

# Newest 10.0.x source version apt knows, e.g. 1:10.0.13+ds-0+deb13u1
versions=$(apt-cache showsrc qemu 2>/dev/null | sed -n 's/^Version: //p' | sort -u)
[ -n "$versions" ] ||
    die "apt knows no source package qemu: run scripts/deps.sh (adds a trixie deb-src entry) and apt-get update"
best=
for v in $versions; do
    upstream=${v#*:}
    upstream=${upstream%%-*}
    case $upstream in 10.0.*) ;; *) continue ;; esac
    if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then
        best=$v
    fi
done
[ -n "$best" ] ||
    die "no QEMU 10.0.x source offered (apt has: ${versions//$'\n'/ }); the series targets the 10.0 stable series"
upstream=${best#*:}
upstream=${upstream%%-*}                # 10.0.13+ds

# Bump RECIPE when what goes into the pristine commit changes.
RECIPE=1
stamp="$best recipe $RECIPE"
if [ "$(cat "$PRISTINE/.git/rsc-qemu-version" 2>/dev/null)" = "$stamp" ] &&
   pgit rev-parse -q --verify pristine >/dev/null; then
    echo "qemu-fetch: build/qemu-pristine is QEMU $best (cached)"
    exit 0
fi

echo "qemu-fetch: QEMU $best"
dl=$ROOT/build/qemu-download
orig=$dl/qemu_$upstream.orig.tar.xz
mkdir -p "$dl"
if [ ! -f "$orig" ]; then
    # apt-get source checks the files against the signed Sources index
    (cd "$dl" && apt-get source -q --download-only \
        -o APT::Sandbox::User=root "qemu=$best") ||
        die "apt-get source qemu=$best failed"
    [ -f "$orig" ] || die "apt-get source did not give $(basename "$orig")"
fi

tmp=$ROOT/build/qemu-pristine.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
tar -xJf "$orig" -C "$tmp" --strip-components=1 ||
    die "cannot extract $orig"
grep -qs '^10\.0\.' "$tmp/VERSION" ||
    die "$orig does not hold QEMU 10.0.x (VERSION: $(cat "$tmp/VERSION" 2>/dev/null))"

edk2='    unpack_edk2_blobs = bzip2.found()'
grep -qxF "$edk2" "$tmp/meson.build" ||
    die "meson.build has no line '$edk2' any more: update the EDK2 edit in $0"
sed -i "s/^$edk2\$/    unpack_edk2_blobs = false  # Debian +ds tarball: no EDK2 blobs/" \
    "$tmp/meson.build"

# One root commit of the exact tarball content; ignore rules do not apply.
if [ ! -d "$PRISTINE/.git" ]; then
    rm -rf "$PRISTINE"
    git init -q "$PRISTINE"
fi
pgit config core.abbrev 12
pgit config gc.auto 0
idx=$PRISTINE/.git/rsc-import-index
rm -f "$idx"
GIT_INDEX_FILE=$idx git --git-dir="$PRISTINE/.git" --work-tree="$tmp" \
    add -A -f .
tree=$(GIT_INDEX_FILE=$idx git --git-dir="$PRISTINE/.git" write-tree)
rm -f "$idx"
commit=$(printf '%s\n\n%s\n%s\n' pristine \
    "QEMU $upstream: Debian $best, upstream tarball (orig.tar.xz)," \
    "meson.build: EDK2 blob unpacking off (blobs stripped by Debian)" |
    pgit commit-tree "$tree")
pgit checkout -q -f -B pristine "$commit"
pgit clean -q -ffdx
rm -rf "$tmp"
echo "$stamp" > "$PRISTINE/.git/rsc-qemu-version"
echo "qemu-fetch: build/qemu-pristine at $commit (QEMU $upstream)"
