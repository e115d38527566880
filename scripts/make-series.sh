#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the series defined in series/ as git commits on top of the pristine
# QEMU commit (fixed identity and dates: same inputs, same hashes), record
# the tip as refs/rsc/series-tip of build/qemu-pristine (scripts/series.sh
# formats from there), check it out as branch "series" in the worktree
# build/qemu-series, and write `git format-patch` output into patches/
# (stale patches removed, unchanged ones left untouched).
#
# A step is a directory series/NN-name/ with
#   message     commit message (subject, blank line, body, Signed-off-by)
#   files       repo-root files the step adds to QEMU at the same path
#   edits.diff  unified diff (git diff) of existing QEMU files, may be empty
#
# Commits or edits made in build/qemu-series that scripts/save-series.sh has
# not saved are left alone (with a warning) unless --force is given.
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"

force=false
[ "${1:-}" = --force ] && force=true

bash "$ROOT/scripts/qemu-fetch.sh" >/dev/null
base=$(pgit rev-parse pristine)

# Our changes, as commits, without touching any work tree
idx=$PRISTINE/.git/rsc-series-index
export GIT_INDEX_FILE=$idx
trap 'rm -f "$idx"' EXIT
pgit read-tree "$base"
parent=$base
declare -A added=()
nsteps=0
for step in "$ROOT"/series/[0-9]*/; do
    step=${step%/}
    name=${step#"$ROOT"/}
    [ -s "$step/message" ] || die "$name/message is missing or empty"
    if [ -f "$step/files" ]; then
        while read -r f; do
            case $f in ''|'#'*) continue ;; esac
            [ -f "$ROOT/$f" ] || die "$name/files: $f does not exist in the repo"
            ! pgit cat-file -e "$base:$f" 2>/dev/null ||
                die "$name/files: $f is an existing QEMU file; put its changes in edits.diff"
            [ -z "${added[$f]:-}" ] ||
                die "$name/files: $f is already added by ${added[$f]}"
            added[$f]=$name
            mode=100644
            [ -x "$ROOT/$f" ] && mode=100755
            blob=$(pgit hash-object -w -- "$ROOT/$f")
            pgit update-index --add --cacheinfo "$mode,$blob,$f"
        done < "$step/files"
    fi
    if [ -s "$step/edits.diff" ]; then
        pgit apply --cached "$step/edits.diff" ||
            die "$name/edits.diff does not apply on top of the previous steps (QEMU $(cat "$PRISTINE/VERSION"))"
    fi
    tree=$(pgit write-tree)
    [ "$tree" != "$(pgit rev-parse "$parent^{tree}")" ] ||
        die "$name changes nothing (no empty patches)"
    parent=$(git stripspace < "$step/message" |
             pgit commit-tree "$tree" -p "$parent")
    nsteps=$((nsteps + 1))
done
[ "$nsteps" -gt 0 ] || die "no steps in series/ (series/NN-name/ directories)"
tip=$parent
# what scripts/series.sh formats, whatever happens to build/qemu-series
pgit update-ref refs/rsc/series-tip "$tip"

# patches/: replace only what changed
out=$ROOT/build/patches.new
rm -rf "$out"
pgit format-patch -q --zero-commit --no-signature --no-cover-letter \
    --no-renames --abbrev=12 -o "$out" "$base..$tip"
mkdir -p "$ROOT/patches"
for p in "$ROOT"/patches/*.patch; do
    [ -e "$p" ] && [ ! -e "$out/$(basename "$p")" ] && rm -f "$p"
done
for p in "$out"/*.patch; do
    cmp -s "$p" "$ROOT/patches/$(basename "$p")" || cp "$p" "$ROOT/patches/"
done
rm -rf "$out"
# The QEMU source the patches were made against: Debian moves the 10.0.x
# point release, and .ci/run tells a moved base from a stale patches/
printf '%s\n' "# QEMU source of these patches (written by scripts/make-series.sh)" \
    "version $(cat "$PRISTINE/VERSION")" \
    "tree $(pgit rev-parse "$base^{tree}")" > "$ROOT/patches/BASE.new"
if cmp -s "$ROOT/patches/BASE.new" "$ROOT/patches/BASE"; then
    rm -f "$ROOT/patches/BASE.new"
else
    mv "$ROOT/patches/BASE.new" "$ROOT/patches/BASE"
fi

# Worktree build/qemu-series on branch "series" at the new tip
unset GIT_INDEX_FILE
ensure_worktree "$SERIES_WT"
wgit() { git -C "$SERIES_WT" "$@"; }
head=$(wgit rev-parse HEAD)
gen=$(pgit rev-parse -q --verify refs/rsc/generated || true)
unsaved=
if ! $force; then
    if [ "$head" != "$base" ] && [ "$head" != "$gen" ] && [ "$head" != "$tip" ]; then
        unsaved="commits that are not saved (HEAD $head)"
    elif [ -n "$(wgit status --porcelain --untracked-files=no)" ]; then
        unsaved="uncommitted changes"
    fi
fi
if [ -n "$unsaved" ]; then
    echo "make-series: warning: build/qemu-series has $unsaved; left as is." >&2
    echo "  Run scripts/save-series.sh to keep them, or make-series.sh --force" \
         "to discard them." >&2
    echo "make-series: $nsteps step(s), series tip $tip, patches/ up to date"
    exit 0
fi
if [ "$head" != "$tip" ] || [ "$(wgit symbolic-ref -q HEAD)" != refs/heads/series ]; then
    wgit checkout -q -f -B series "$tip"
fi
pgit update-ref refs/rsc/generated "$tip"
echo "make-series: $nsteps step(s), series tip $tip, patches/ up to date"
