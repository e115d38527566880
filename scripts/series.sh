#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Write the series, ready to send, into OUTDIR (default build/series-out):
# 0000-cover-letter.patch and one `git format-patch` file per commit, then
# run QEMU's scripts/checkpatch.pl on every file and fail unless it reports
# no error and no warning.  `make series` runs it.
#
#   scripts/series.sh [OUTDIR]
#   git send-email --to=qemu-devel@nongnu.org OUTDIR/*.patch
#
# The commits are those scripts/make-series.sh builds from series/ on top
# of the pristine Debian QEMU 10.0.x source; the cover letter's subject and
# text come from series/cover-letter.  Deterministic: fixed identity and
# dates (qemu-lib.sh), zero commit ids in the From lines, no signature, so
# the same inputs give the same files.  The patch files equal patches/.
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"

out=$(realpath -m -- "${1:-$ROOT/build/series-out}")
letter=$ROOT/series/cover-letter
[ -s "$letter" ] || die "series/cover-letter is missing or empty"

bash "$ROOT/scripts/make-series.sh"
base=$(pgit rev-parse pristine)
tip=$(pgit rev-parse refs/rsc/series-tip)
n=$(pgit rev-list --count "$base..$tip")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Cover letter text: comments dropped, subject line, blank line, body
git stripspace --strip-comments < "$letter" > "$tmp/letter"
subject=$(head -1 "$tmp/letter")
if [ -z "$subject" ] || [ -n "$(sed -n 2p "$tmp/letter")" ]; then
    die "series/cover-letter: want a subject line, a blank line, the body"
fi
tail -n +3 "$tmp/letter" > "$tmp/blurb"
[ -s "$tmp/blurb" ] || die "series/cover-letter has no body"
printf '\nBased on QEMU %s.\n' "$(cat "$PRISTINE/VERSION")" >> "$tmp/blurb"
if LC_ALL=C grep -n '[^ -~]' "$tmp/letter" >&2; then
    die "series/cover-letter: non-ASCII or tab characters (lines above)"
fi
if awk 'length > 76 { print FILENAME ": " length " columns: " $0; bad = 1 }
        END { exit !bad }' "$tmp/letter" >&2; then
    die "series/cover-letter: lines longer than 76 columns"
fi
# Measured numbers only: every decimal number must be one the repo records
grep -oE '[0-9]+\.[0-9]+' "$tmp/letter" | sort -u > "$tmp/numbers"
while read -r num; do
    re="(^|[^0-9.])${num//./\\.}([^0-9.]|\\.([^0-9]|\$)|\$)"
    grep -qE -- "$re" "$ROOT/README.md" "$ROOT/bench/instructions-baseline.txt" ||
        die "series/cover-letter quotes $num, which neither README.md nor" \
            "bench/instructions-baseline.txt contains: quote measured numbers only"
done < "$tmp/numbers"

pgit format-patch -q --zero-commit --no-signature --cover-letter \
    --no-renames --abbrev=12 -o "$tmp/out" "$base..$tip"
cover=$tmp/out/0000-cover-letter.patch
[ -f "$cover" ] || die "git format-patch wrote no cover letter"
# Fill in the two placeholders git leaves, each exactly once
awk -v subject="$subject" -v blurb="$tmp/blurb" '
    BEGIN { s = "*** SUBJECT HERE ***"; b = "*** BLURB HERE ***" }
    !ns && /^Subject: / && (i = index($0, s)) {
        $0 = substr($0, 1, i - 1) subject substr($0, i + length(s)); ns = 1
    }
    !nb && $0 == b {
        while ((getline line < blurb) > 0) print line
        nb = 1; next
    }
    { print }
    END { if (!ns || !nb) exit 1 }' "$cover" > "$tmp/cover" ||
    die "placeholders *** SUBJECT HERE *** / *** BLURB HERE *** not found" \
        "in git format-patch's cover letter"
mv "$tmp/cover" "$cover"
if grep -n '\*\*\* .* HERE \*\*\*' "$cover" >&2; then
    die "placeholders left in the cover letter"
fi

# The patches must be those of patches/ (make-series.sh wrote them)
for p in "$tmp/out"/*.patch; do
    [ "$p" != "$cover" ] || continue
    cmp -s "$p" "$ROOT/patches/$(basename "$p")" ||
        die "$(basename "$p") differs from patches/: rerun scripts/make-series.sh"
done

mkdir -p "$out"
rm -f "$out"/[0-9][0-9][0-9][0-9]-*.patch
cp "$tmp/out"/*.patch "$out/"

# QEMU's checkpatch on every file.  It accepts a file named
# *cover-letter.patch without a diff (and wants no sign-off there); it
# exits 0 on warnings, so its summary line must say 0 and 0.
ok=true
for p in "$out"/*.patch; do
    rc=0
    "$PRISTINE/scripts/checkpatch.pl" --root="$PRISTINE" "$p" \
        > "$tmp/checkpatch" 2>&1 || rc=$?
    sum=$(grep -E '^total: ' "$tmp/checkpatch" || true)
    echo "checkpatch: $(basename "$p"): ${sum:-no summary}"
    if [ "$rc" != 0 ] || [[ $sum != "total: 0 errors, 0 warnings, "* ]]; then
        cat "$tmp/checkpatch" >&2
        ok=false
    fi
done
$ok || die "checkpatch.pl reports problems (above)"
echo "series: $n patch(es) and a cover letter in ${out#"$ROOT"/}, checkpatch clean"
