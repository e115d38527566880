# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# shellcheck disable=SC2034  # variables for the scripts that source this
#
# Shared by scripts/qemu-*.sh, make-series.sh, save-series.sh (sourced).
# Paths, and a git environment that makes every commit we create
# deterministic: fixed identity and dates, no user/system configuration.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PRISTINE=$ROOT/build/qemu-pristine      # git repo, work tree = upstream tarball
SERIES_WT=$ROOT/build/qemu-series       # worktree: the series as commits
AM_WT=$ROOT/build/qemu-am               # worktree: scratch for git am
SRC=$ROOT/build/qemu-src                # worktree: what we build
QBUILD=$SRC/build

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="QEMU virtio-net RSC authors"
export GIT_AUTHOR_EMAIL="rsc@example.org"
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
export GIT_AUTHOR_DATE="2026-01-01T00:00:00+0000"
export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
export TZ=UTC LC_ALL=C

# ccache: let the build directories of one QEMU source (build/qemu-src/build,
# build/qemu-bisect/build, ...) share cached objects.  Paths under build/
# are hashed relative to the compiler's working directory, and that
# directory is not hashed (QEMU compiles with -g): a file that is the same
# in two trees is compiled once.  The price is that debug info may name the
# build directory that compiled the file first.
export CCACHE_BASEDIR=$ROOT/build CCACHE_NOHASHDIR=1

die() {
    echo "$(basename "$0"): error: $*" >&2
    exit 1
}

# git on the pristine repository (object store shared by all worktrees)
pgit() {
    git -C "$PRISTINE" "$@"
}

# Ensure worktree $1 of the pristine repo exists (detached at pristine).
ensure_worktree() {
    local wt=$1
    if [ -e "$wt/.git" ] && git -C "$wt" rev-parse --git-dir >/dev/null 2>&1; then
        return 0
    fi
    rm -rf "$wt"
    pgit worktree prune
    pgit worktree add -q --detach "$wt" pristine
}

# Configure QEMU source $1 in build directory $2 with the options after
# them, unless $2 was configured with exactly these (kept in
# $2/rsc-configure); a new configure line starts from an empty directory.
qemu_configure() {
    local src=$1 dir=$2
    shift 2
    if [ -f "$dir/build.ninja" ] &&
       [ "$(cat "$dir/rsc-configure" 2>/dev/null)" = "$*" ]; then
        return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "$(basename "$0" .sh): configure $*"
    if ! (cd "$dir" && "$src/configure" "$@" > configure.log 2>&1); then
        tail -30 "$dir/configure.log" >&2
        die "configure failed, see ${dir#"$ROOT"/}/configure.log"
    fi
    echo "$*" > "$dir/rsc-configure"
}

# Build what the tests need in configured QEMU build directory $1:
# qemu-system-x86_64, qos-test and, when this tree of the series has it,
# the engine's unit test.  build.ninja first, as meson may rerun; the
# ninja output is in $1/ninja.log.
qemu_ninja() {
    local dir=$1 rel=${1#"$ROOT"/}
    local targets=(qemu-system-x86_64 tests/qtest/qos-test)
    if ! ninja -C "$dir" build.ninja > "$dir/ninja.log" 2>&1; then
        tail -30 "$dir/ninja.log" >&2
        die "meson regeneration failed, see $rel/ninja.log"
    fi
    if grep -q '^build tests/unit/test-net-rsc:' "$dir/build.ninja"; then
        targets+=(tests/unit/test-net-rsc)
    fi
    echo "$(basename "$0" .sh): ninja -j2 ${targets[*]}"
    if ! ninja -C "$dir" -j2 "${targets[@]}" > "$dir/ninja.log" 2>&1; then
        grep -E -B2 -A12 'error|FAILED' "$dir/ninja.log" | head -80 >&2
        die "build failed, full log in $rel/ninja.log"
    fi
}

# Firmware for the pc machine in qtest, from Debian packages, linked where
# QEMU build directory $1 looks for it
link_firmware() {
    local fw=$1/qemu-bundle/usr/local/share/qemu f
    mkdir -p "$fw"
    for f in /usr/share/seabios/* /usr/lib/ipxe/qemu/* /usr/share/qemu/*; do
        [ -e "$fw/${f##*/}" ] || [ -L "$fw/${f##*/}" ] || ln -s "$f" "$fw/"
    done
    for f in bios-256k.bin kvmvapic.bin efi-virtio.rom; do
        [ -e "$fw/$f" ] || die "firmware $f missing: install seabios qemu-system-data ipxe-qemu (scripts/deps.sh)"
    done
}
