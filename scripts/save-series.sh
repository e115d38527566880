#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The reverse of make-series.sh: after commits in the worktree
# build/qemu-series (git commit --fixup=..., git rebase -i --autosquash
# pristine, new commits for new steps), write every commit back as a step
# of series/ (message, files, edits.diff), the files the series adds into
# the repo root, then regenerate the commits and patches/ and check that
# they give the same tree.
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"

wgit() { git -C "$SERIES_WT" "$@"; }
[ -d "$SERIES_WT" ] || die "no build/qemu-series: run scripts/make-series.sh first"
[ -z "$(wgit status --porcelain --untracked-files=no)" ] ||
    die "build/qemu-series has uncommitted changes: commit them first"
base=$(pgit rev-parse pristine)
head=$(wgit rev-parse HEAD)
wgit merge-base --is-ancestor "$base" "$head" ||
    die "build/qemu-series HEAD is not based on branch pristine: rebase it"
[ -z "$(wgit rev-list --merges "$base..$head")" ] ||
    die "merge commits in build/qemu-series: the series must be linear"
commits=$(wgit rev-list --reverse "$base..$head")
[ -n "$commits" ] || die "build/qemu-series has no commits on top of pristine"
if wgit log --format=%s "$base..$head" | grep -qE '^(fixup|squash|amend)! '; then
    die "fixup!/squash! commits left: run" \
        "git -C build/qemu-series rebase -i --autosquash pristine"
fi

new=$ROOT/build/series.new
rm -rf "$new"
mkdir -p "$new"
declare -A owner=()
ours=()
n=0
for c in $commits; do
    n=$((n + 1))
    # a step keeps its directory name; a new step is named after its subject
    step=$(cd "$ROOT/series" &&
           find . -maxdepth 1 -type d -name "$(printf '%02d' "$n")-*" |
           sed 's|^\./||' | head -n 1)
    if [ -z "$step" ]; then
        slug=$(wgit log -1 --format=%s "$c" | tr 'A-Z' 'a-z' |
               sed 's/[^a-z0-9]\{1,\}/-/g; s/^-//' | cut -c1-40 |
               sed 's/-$//')
        step=$(printf '%02d-%s' "$n" "$slug")
    fi
    mkdir "$new/$step"
    wgit log -1 --format=%B "$c" | git stripspace > "$new/$step/message"
    qemu_paths=()
    while IFS=$'\t' read -r status path; do
        if pgit cat-file -e "$base:$path" 2>/dev/null; then
            qemu_paths+=("$path")
        elif [ "$status" = A ] && [ -z "${owner[$path]:-}" ]; then
            owner[$path]=$step
            ours+=("$path")
            echo "$path" >> "$new/$step/files"
        else
            die "$path (added by ${owner[$path]:-?}) is changed again by" \
                "commit $(wgit log -1 --format='%h %s' "$c"): squash the" \
                "change into the step that adds it"
        fi
    done < <(wgit diff-tree --no-commit-id --no-renames -r --name-status "$c^" "$c")
    if [ ${#qemu_paths[@]} -gt 0 ]; then
        wgit diff --no-color --no-renames --no-ext-diff "$c^" "$c" -- \
            "${qemu_paths[@]}" > "$new/$step/edits.diff"
    fi
done

# Added files into the repo root (only those that differ)
for f in "${ours[@]}"; do
    tmpf=$(mktemp)
    wgit show "$head:$f" > "$tmpf"
    if ! cmp -s "$tmpf" "$ROOT/$f"; then
        mkdir -p "$(dirname "$ROOT/$f")"
        cp "$tmpf" "$ROOT/$f"
        echo "save-series: updated $f"
    fi
    rm -f "$tmpf"
    if [ "$(wgit ls-tree "$head" -- "$f" | cut -c1-6)" = 100755 ]; then
        chmod +x "$ROOT/$f"
    else
        chmod -x "$ROOT/$f"
    fi
done

# series/: replace the step directories, keep everything else
for d in "$ROOT"/series/[0-9]*/; do
    [ -d "$d" ] && rm -rf "$d"
done
mv "$new"/* "$ROOT/series/"
rm -rf "$new"

# Regenerate commits and patches/, and check the round trip
bash "$ROOT/scripts/make-series.sh" --force
tip=$(pgit rev-parse refs/rsc/generated)
if [ "$(pgit rev-parse "$tip^{tree}")" != "$(pgit rev-parse "$head^{tree}")" ]; then
    wgit checkout -q -f -B series "$head"
    die "regenerated series (tip $tip) differs from your commits: left" \
        "build/qemu-series at your $head; compare with git diff $head $tip"
fi
echo "save-series: $n step(s) saved to series/ (your commits were $head)"
