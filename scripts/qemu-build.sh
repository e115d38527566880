#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build patched QEMU: fetch the pristine source (qemu-fetch.sh), regenerate
# patches/ (make-series.sh), apply patches/*.patch with git am onto pristine
# in a scratch worktree, move the build tree build/qemu-src to the result
# with `git checkout` (only files that differ are rewritten, so ninja
# rebuilds only what changed), configure once and build with ninja:
# qemu-system-x86_64, the qos-test qtests and the RSC unit test.
# A rerun with nothing changed takes seconds.
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"

t0=$(date +%s)
bash "$ROOT/scripts/qemu-fetch.sh"
bash "$ROOT/scripts/make-series.sh"
base=$(pgit rev-parse pristine)

# git am, cached on (pristine, patches) content
shopt -s nullglob
patches=("$ROOT"/patches/*.patch)
shopt -u nullglob
[ ${#patches[@]} -gt 0 ] || die "no patches in patches/"
key=$( (echo "$base"; cat "${patches[@]}") | sha256sum | cut -d' ' -f1)
stamp=$ROOT/build/qemu-am.stamp
head=
if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$key" ]; then
    head=$(cut -d' ' -f2 "$stamp")
    pgit cat-file -e "$head^{commit}" 2>/dev/null || head=
fi
if [ -z "$head" ]; then
    ensure_worktree "$AM_WT"
    git -C "$AM_WT" am --abort >/dev/null 2>&1 || true
    git -C "$AM_WT" checkout -q -f --detach "$base"
    if ! git -C "$AM_WT" am -q "${patches[@]}"; then
        failed=$(git -C "$AM_WT" am --show-current-patch=raw 2>/dev/null |
                 sed -n 's/^Subject: //p' | head -1)
        git -C "$AM_WT" am --abort >/dev/null 2>&1 || true
        die "git am failed on \"$failed\": patches/ do not apply onto QEMU $(cat "$PRISTINE/VERSION")"
    fi
    head=$(git -C "$AM_WT" rev-parse HEAD)
    echo "$key $head" > "$stamp"
fi
echo "qemu-build: patches applied, $head"

# Build tree: checkout rewrites only files that differ between commits
ensure_worktree "$SRC"
if [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
    echo "qemu-build: warning: discarding local edits in build/qemu-src" >&2
fi
if [ "$(git -C "$SRC" rev-parse HEAD)" != "$head" ] ||
   [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
    git -C "$SRC" checkout -q -f --detach "$head"
fi

# Configure once (again only if this configure line changes)
cfg=(--python=/usr/bin/python3 --target-list=x86_64-softmmu
     --without-default-features --enable-slirp --enable-tcg --enable-kvm
     --disable-docs --disable-user --disable-tools --disable-guest-agent
     --disable-download --disable-install-blobs --enable-werror
     "--cc=ccache gcc")
command -v ccache >/dev/null || die "ccache missing: run scripts/deps.sh"
qemu_configure "$SRC" "$QBUILD" "${cfg[@]}"
link_firmware "$QBUILD"

qemu_ninja "$QBUILD"
tail -1 "$QBUILD/ninja.log"
echo "qemu-build: done in $(( $(date +%s) - t0 )) s (build/qemu-src/build)"
