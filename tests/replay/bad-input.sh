#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# rsc-replay on bad input: every case must end with the exit status the
# tool documents (2 for bad options or input), nothing on stdout, and a
# first line on stderr that names the file or option and the problem; no
# crash, hang, huge allocation, silent success or output file that would
# pass for a whole trace's.  A few cases are valid
# input the tool must take as it takes the trace they are made from
# (other byte order, nanosecond timestamps, timestamps going back, a
# pipe on standard input).  The
# files are made here from a good trace, with od, dd, printf and awk.
#
#   sh bad-input.sh --list                   the case names
#   sh bad-input.sh CASE RSC_REPLAY TRACE    run one case
#
# TRACE is a classic little-endian microsecond pcap of Ethernet frames
# (tests/data/ipv4-ts.pcap).  In a cross build, meson sets
# MESON_EXE_WRAPPER (qemu-user) to run RSC_REPLAY with.  Exit status 77
# skips a case that cannot be made here (an unreadable file, as root).

cases='missing unreadable directory empty short-header header-only
pcapng bad-magic bad-version linktype
truncated-record-header truncated-record-data truncated-last-record
caplen-huge caplen-over-snaplen orig-below-caplen cut-by-snaplen
bad-fraction swapped-endian nsec swapped-nsec time-backwards
stdin stdin-truncated out-pcap-is-stdin
out-pcap-is-input out-json-is-input outputs-same-file
out-pcap-unwritable out-json-unwritable out-pcap-full out-json-full
out-pcap-empty-name outputs-removed out-json-unwritable-pcap-removed
output-device-kept
unknown-option missing-value no-input two-inputs empty-input-name
mode-bad mode-empty
interval-ns-text interval-ns-negative interval-ns-overflow
interval-ns-hex interval-ns-blank interval-ns-empty
max-flows-text max-flows-zero max-flows-negative max-flows-above
max-flows-wraps max-flows-overflow
refuse-every-text refuse-every-one refuse-every-negative
refuse-every-overflow
expect-data-packets-text expect-data-packets-negative
expect-data-packets-overflow expect-data-packets-mismatch'

if [ "$1" = --list ]; then
    echo $cases
    exit 0
fi
if [ $# -ne 3 ]; then
    echo "usage: sh bad-input.sh --list | CASE RSC_REPLAY TRACE" >&2
    exit 1
fi
name=$1
tool=$2
trace=$3
case " $(echo $cases) " in
*" $name "*) ;;
*) echo "bad-input.sh: no case $name" >&2; exit 1 ;;
esac

# finish STATUS: remove the scratch directory and exit.  No EXIT trap:
# dash leaks its string, which fails the tests under valgrind (test.sh).
finish() {
    chmod -R u+rwx "$dir"
    rm -rf "$dir"
    exit "$1"
}

dir=$(mktemp -d "${TMPDIR:-/tmp}/rsc-replay-bad.XXXXXX") || exit 1
trap 'finish 1' HUP INT TERM
good=$dir/good.pcap
cp "$trace" "$good" || finish 1

fail() {
    echo "FAIL $name: $*" >&2
    finish 1
}

# u32le FILE OFFSET: the little-endian 32-bit word there, in decimal
u32le() {
    set -- $(od -An -v -tu1 -j "$2" -N4 "$1")
    [ $# -eq 4 ] || fail "cannot read 4 bytes"
    echo $(($1 + ($2 << 8) + ($3 << 16) + ($4 << 24)))
}

# put FILE OFFSET BYTE...: overwrite bytes (decimal values) in place
put() {
    put_file=$1
    put_off=$2
    shift 2
    printf "$(printf '\\%03o' "$@")" |
        dd of="$put_file" bs=1 seek="$put_off" conv=notrunc 2>/dev/null ||
        fail "cannot write $put_file"
}

# put32 FILE OFFSET VALUE le|be: overwrite a 32-bit word
put32() {
    v=$3
    if [ "$4" = be ]; then
        put "$1" "$2" $((v >> 24 & 255)) $((v >> 16 & 255)) \
            $((v >> 8 & 255)) $((v & 255))
    else
        put "$1" "$2" $((v & 255)) $((v >> 8 & 255)) \
            $((v >> 16 & 255)) $((v >> 24 & 255))
    fi
}

# convert IN OUT ORDER NSEC: IN (little-endian, microseconds) rewritten
# in byte order ORDER (le, be), with nanosecond timestamps if NSEC is 1.
# awk turns the bytes od lists into printf escapes.
convert() {
    od -An -v -tu1 "$1" | awk -v order="$3" -v nsec="$4" '
    function le(i, n,   v, k) {
        v = 0
        for (k = n - 1; k >= 0; k--) {
            v = v * 256 + b[i + k]
        }
        return v
    }
    function emit(v, n,   k, s) {
        s = ""
        for (k = 0; k < n; k++) {
            if (order == "be") {
                s = sprintf("\\%03o", v % 256) s
            } else {
                s = s sprintf("\\%03o", v % 256)
            }
            v = int(v / 256)
        }
        printf "%s", s
    }
    { for (i = 1; i <= NF; i++) b[n++] = $i }
    END {
        emit(nsec ? 2712812621 : 2712847316, 4)     # 0xa1b23c4d, 0xa1b2c3d4
        emit(le(4, 2), 2)
        emit(le(6, 2), 2)
        for (o = 8; o < 24; o += 4) {
            emit(le(o, 4), 4)
        }
        for (o = 24; o + 16 <= n; o += 16 + incl) {
            incl = le(o + 8, 4)
            emit(le(o, 4), 4)
            emit(le(o + 4, 4) * (nsec ? 1000 : 1), 4)
            emit(incl, 4)
            emit(le(o + 12, 4), 4)
            for (i = o + 16; i < o + 16 + incl && i < n; i++) {
                printf "\\%03o", b[i]
            }
        }
        print ""
    }' > "$2.fmt" || fail "cannot convert $1"
    printf "$(cat "$2.fmt")" > "$2"
}

# run ARG...: rsc-replay's exit status in $rc, output in $dir/out, err
run() {
    ${MESON_EXE_WRAPPER:-} "$tool" "$@" > "$dir/out" 2> "$dir/err"
    rc=$?
}

# expect RC REGEX: exit status RC, nothing on stdout if RC is 2, and the
# first line on stderr is rsc-replay's and matches REGEX (grep -E)
expect() {
    show="rsc-replay $args: exit $rc, stderr:
$(cat "$dir/err")"
    [ "$rc" = "$1" ] || fail "want exit $1; $show"
    if [ "$1" = 2 ] && [ -s "$dir/out" ]; then
        fail "output on stdout; $show"
    fi
    first=$(head -n 1 "$dir/err")
    case $first in
    "rsc-replay: "*) ;;
    *) fail "first line on stderr is not rsc-replay's; $show" ;;
    esac
    printf '%s\n' "$first" | grep -Eq -- "$2" ||
        fail "stderr does not match '$2'; $show"
    echo "ok $name: $first"
}

# bad ARG...: rsc-replay ARG... on the good trace, for option errors
bad() {
    args="$* $good"
    run "$@" "$good"
}

# input FILE ARG...: rsc-replay ARG... FILE
input() {
    in_file=$1
    shift
    args="$* $in_file"
    run "$@" "$in_file"
}

# same_as_good FILE: FILE must give the report the good trace gives
same_as_good() {
    run "$good"
    [ "$rc" = 0 ] || fail "the good trace fails: exit $rc"
    mv "$dir/out" "$dir/good.out"
    input "$1"
    [ "$rc" = 0 ] || fail "exit $rc; stderr: $(cat "$dir/err")"
    cmp -s "$dir/good.out" "$dir/out" ||
        fail "report differs from the good trace's:
$(diff "$dir/good.out" "$dir/out" | head -n 10)"
}

f=$dir/$name.pcap
max=9223372036854775808         # 2^63, one more than INT64_MAX
r0="\.pcap: record 0 at offset 24:"
case $name in
missing)
    input "$f"
    expect 2 "missing\.pcap: No such file or directory"
    ;;
unreadable)
    cp "$good" "$f"
    chmod 000 "$f"
    if [ -r "$f" ]; then
        echo "SKIP $name: unreadable files are readable here (root)"
        finish 77
    fi
    input "$f"
    expect 2 "unreadable\.pcap: Permission denied"
    ;;
directory)
    mkdir "$f"
    input "$f"
    expect 2 "directory\.pcap: is a directory"
    ;;
empty)
    : > "$f"
    input "$f"
    expect 2 "empty\.pcap: too short for a pcap file header \(0 bytes\)"
    ;;
short-header)
    head -c 23 "$good" > "$f"
    input "$f"
    expect 2 "short-header\.pcap: too short for a pcap file header"
    ;;
header-only)
    head -c 24 "$good" > "$f"
    input "$f"
    expect 2 "header-only\.pcap: no records"
    ;;
pcapng)
    cp "$good" "$f"
    put "$f" 0 10 13 13 10
    input "$f"
    expect 2 "pcapng\.pcap: pcapng is not supported"
    ;;
bad-magic)
    cp "$good" "$f"
    put "$f" 0 80 75 3 4            # a zip file
    input "$f"
    expect 2 "bad-magic\.pcap: not a pcap file \(starts with 50 4b 03 04\)"
    ;;
bad-version)
    cp "$good" "$f"
    put "$f" 4 3 0
    input "$f"
    expect 2 "bad-version\.pcap: unsupported pcap version 3"
    ;;
linktype)
    cp "$good" "$f"
    put32 "$f" 20 113               # Linux cooked capture
    input "$f"
    expect 2 "linktype\.pcap: link type 113 is not Ethernet"
    ;;
truncated-record-header)
    head -c 30 "$good" > "$f"
    input "$f"
    expect 2 "truncated-record-header$r0 truncated header \(6 of 16 bytes\)"
    ;;
truncated-record-data)
    head -c 60 "$good" > "$f"
    input "$f"
    expect 2 "truncated-record-data$r0 truncated \(74 bytes announced, 20 pre"
    ;;
truncated-last-record)
    # the error comes after all other frames were fed: still no report
    head -c $(($(wc -c < "$good") - 1)) "$good" > "$f"
    input "$f"
    expect 2 "truncated-last-record\.pcap: record 199 at offset [0-9]+: trunc"
    ;;
caplen-huge)
    # refused before anything is allocated: no 4 GiB buffer, even with
    # snaplen 0 (no limit)
    cp "$good" "$f"
    put32 "$f" 16 0
    put32 "$f" 32 4294967295
    args=$f
    if [ -z "${MESON_EXE_WRAPPER:-}" ]; then
        rc=0
        (ulimit -v 1048576 2>/dev/null; exec "$tool" "$f") \
            > "$dir/out" 2> "$dir/err" || rc=$?
    else
        run "$f"
    fi
    expect 2 "caplen-huge$r0 captured length 4294967295 exceeds the largest"
    ;;
caplen-over-snaplen)
    cp "$good" "$f"
    put32 "$f" 16 64                # the first record has 74 bytes
    input "$f"
    expect 2 "caplen-over-snaplen$r0 captured length 74 exceeds .* snaplen 64"
    ;;
orig-below-caplen)
    cp "$good" "$f"
    put32 "$f" 36 60
    input "$f"
    expect 2 "orig-below-caplen$r0 original length 60 is less than .* 74$"
    ;;
cut-by-snaplen)
    # a frame the capture cut short: its stream could not be checked
    cp "$good" "$f"
    put32 "$f" 36 1514
    input "$f"
    expect 2 "cut-by-snaplen$r0 frame cut by .* snaplen \(74 of 1514 bytes\)"
    ;;
bad-fraction)
    cp "$good" "$f"
    put32 "$f" 28 1000000
    input "$f"
    expect 2 "bad-fraction$r0 invalid timestamp fraction 1000000"
    ;;
swapped-endian)
    convert "$good" "$f" be 0
    same_as_good "$f"
    echo "ok $name: same report as the little-endian trace"
    ;;
nsec)
    convert "$good" "$f" le 1
    same_as_good "$f"
    echo "ok $name: same report as the microsecond trace"
    ;;
swapped-nsec)
    convert "$good" "$f" be 1
    same_as_good "$f"
    echo "ok $name: same report as the little-endian microsecond trace"
    ;;
time-backwards)
    # the second frame stamped at 0: fed at the first frame's time
    cp "$good" "$f"
    o=$((24 + 16 + $(u32le "$good" 32)))
    put32 "$f" "$o" 0
    put32 "$f" $((o + 4)) 0
    same_as_good "$f"
    expect 0 "warning: .*time-backwards\.pcap: timestamps go back at 1 fr"
    ;;
stdin)
    # a pipe, as from tcpdump -w -: read once, the good trace's report
    run "$good"
    [ "$rc" = 0 ] || fail "the good trace fails: exit $rc"
    mv "$dir/out" "$dir/good.out"
    args="- < $good"
    cat "$good" | ${MESON_EXE_WRAPPER:-} "$tool" - > "$dir/out" 2> "$dir/err"
    rc=$?
    [ "$rc" = 0 ] || fail "exit $rc; stderr: $(cat "$dir/err")"
    [ ! -s "$dir/err" ] || fail "stderr: $(cat "$dir/err")"
    cmp -s "$dir/good.out" "$dir/out" ||
        fail "report differs from the good trace's:
$(diff "$dir/good.out" "$dir/out" | head -n 10)"
    echo "ok $name: same report as the file"
    ;;
stdin-truncated)
    args="- < (the good trace cut in record 3)"
    head -c 1000 "$good" |
        ${MESON_EXE_WRAPPER:-} "$tool" - > "$dir/out" 2> "$dir/err"
    rc=$?
    expect 2 "^rsc-replay: standard input: record 3 at offset 286: trunc"
    ;;
out-pcap-is-stdin)
    cp "$good" "$f"
    args="--out-pcap $f - < $f"
    ${MESON_EXE_WRAPPER:-} "$tool" --out-pcap "$f" - < "$f" \
        > "$dir/out" 2> "$dir/err"
    rc=$?
    expect 2 "--out-pcap .*out-pcap-is-stdin\.pcap: is the input file"
    cmp -s "$good" "$f" || fail "the input file was changed"
    ;;
out-pcap-is-input)
    cp "$good" "$f"
    input "$f" --out-pcap "$f"
    expect 2 "--out-pcap .*out-pcap-is-input\.pcap: is the input file"
    cmp -s "$good" "$f" || fail "the input file was changed"
    ;;
out-json-is-input)
    cp "$good" "$f"
    ln -s "$f" "$dir/link"
    input "$f" --out-json "$dir/link"
    expect 2 "--out-json .*link: is the input file"
    cmp -s "$good" "$f" || fail "the input file was changed"
    ;;
outputs-same-file)
    bad --out-pcap "$dir/o" --out-json "$dir/./o"
    expect 2 "--out-json .*/\./o: is the --out-pcap file"
    ;;
out-pcap-unwritable)
    bad --out-pcap "$dir/nodir/o.pcap"
    expect 2 "--out-pcap .*nodir/o\.pcap: No such file or directory"
    ;;
out-json-unwritable)
    bad --out-json "$dir/nodir/o.json"
    expect 2 "--out-json .*nodir/o\.json: No such file or directory"
    ;;
out-pcap-full | out-json-full)
    [ -w /dev/full ] || { echo "SKIP $name: no /dev/full"; finish 77; }
    bad --${name%-full} /dev/full
    expect 2 "--${name%-full} /dev/full: No space left on device"
    ;;
out-pcap-empty-name)
    bad --out-pcap ""
    expect 2 "--out-pcap: the file name is empty"
    ;;
outputs-removed)
    # outputs of a run cut short by bad input would pass for a whole
    # trace's: none is left, whether new or overwritten
    head -c $(($(wc -c < "$good") - 1)) "$good" > "$f"
    run --out-pcap "$dir/o.pcap" --out-json "$dir/o.json" "$good"
    [ "$rc" = 0 ] && [ -s "$dir/o.pcap" ] && [ -s "$dir/o.json" ] ||
        fail "the good trace leaves no outputs: exit $rc"
    input "$f" --out-pcap "$dir/o.pcap" --out-json "$dir/o.json"
    expect 2 "outputs-removed\.pcap: record 199 at offset [0-9]+: trunc"
    [ ! -e "$dir/o.pcap" ] || fail "--out-pcap file left behind"
    [ ! -e "$dir/o.json" ] || fail "--out-json file left behind"
    ;;
out-json-unwritable-pcap-removed)
    bad --out-pcap "$dir/o.pcap" --out-json "$dir/nodir/o.json"
    expect 2 "--out-json .*nodir/o\.json: No such file or directory"
    [ ! -e "$dir/o.pcap" ] || fail "--out-pcap file left behind"
    ;;
output-device-kept)
    # only regular files are removed: a link to a device stays
    head -c $(($(wc -c < "$good") - 1)) "$good" > "$f"
    ln -s /dev/null "$dir/null"
    input "$f" --out-pcap "$dir/null" --out-json "$dir/null2"
    expect 2 "output-device-kept\.pcap: record 199 at offset [0-9]+: trunc"
    [ -L "$dir/null" ] || fail "the link to /dev/null was removed"
    [ ! -e "$dir/null2" ] || fail "--out-json file left behind"
    ;;
unknown-option)
    bad --interval 5
    expect 2 "Unknown option --interval"
    ;;
missing-value)
    args="$good --max-flows"
    run "$good" --max-flows
    expect 2 "Missing argument for --max-flows"
    ;;
no-input)
    args=--quiet
    run --quiet
    expect 2 "expected exactly one input pcap file"
    ;;
two-inputs)
    bad "$good"
    expect 2 "expected exactly one input pcap file"
    ;;
empty-input-name)
    input ""
    expect 2 "the input file name is empty"
    ;;
mode-bad)
    bad --mode gro
    expect 2 "--mode 'gro': must be rsc-ext or gso"
    ;;
mode-empty)
    bad --mode ""
    expect 2 "--mode '': must be rsc-ext or gso"
    ;;
interval-ns-text)
    bad --interval-ns 300us
    expect 2 "--interval-ns '300us': not a decimal integer"
    ;;
interval-ns-negative)
    bad --interval-ns -1
    expect 2 "--interval-ns -1: out of range \(0\.\.9223372036854775807\)"
    ;;
interval-ns-overflow)
    bad --interval-ns $max
    expect 2 "--interval-ns $max: out of range"
    ;;
interval-ns-hex)
    bad --interval-ns 0x10
    expect 2 "--interval-ns '0x10': not a decimal integer"
    ;;
interval-ns-blank)
    bad --interval-ns " 5"
    expect 2 "--interval-ns ' 5': not a decimal integer"
    ;;
interval-ns-empty)
    bad --interval-ns=
    expect 2 "--interval-ns '': not a decimal integer"
    ;;
max-flows-text)
    bad --max-flows 1e3
    expect 2 "--max-flows '1e3': not a decimal integer"
    ;;
max-flows-zero)
    bad --max-flows 0
    expect 2 "--max-flows 0: out of range \(1\.\.16384\)"
    ;;
max-flows-negative)
    bad --max-flows -1
    expect 2 "--max-flows -1: out of range \(1\.\.16384\)"
    ;;
max-flows-above)
    bad --max-flows 16385
    expect 2 "--max-flows 16385: out of range \(1\.\.16384\)"
    ;;
max-flows-wraps)
    # 2^32 + 1: 1 if cut to 32 bits
    bad --max-flows 4294967297
    expect 2 "--max-flows 4294967297: out of range \(1\.\.16384\)"
    ;;
max-flows-overflow)
    bad --max-flows $max
    expect 2 "--max-flows $max: out of range \(1\.\.16384\)"
    ;;
refuse-every-text)
    bad --refuse-every three
    expect 2 "--refuse-every 'three': not a decimal integer"
    ;;
refuse-every-one)
    bad --refuse-every 1
    expect 2 "--refuse-every 1: must be 0 \(never\) or >= 2"
    ;;
refuse-every-negative)
    bad --refuse-every -3
    expect 2 "--refuse-every -3: out of range"
    ;;
refuse-every-overflow)
    bad --refuse-every $max
    expect 2 "--refuse-every $max: out of range"
    ;;
expect-data-packets-text)
    bad --expect-data-packets 11.0
    expect 2 "--expect-data-packets '11\.0': not a decimal integer"
    ;;
expect-data-packets-negative)
    # used to switch the expectation off: a silent success
    bad --expect-data-packets -1
    expect 2 "--expect-data-packets -1: out of range"
    ;;
expect-data-packets-overflow)
    bad --expect-data-packets 18446744073709551616
    expect 2 "--expect-data-packets 18446744073709551616: out of range"
    ;;
expect-data-packets-mismatch)
    # a failed check (1), not bad input (2); the report is printed
    bad --expect-data-packets 100000
    expect 1 "data packets delivered, expected 100000"
    ;;
esac
finish 0
