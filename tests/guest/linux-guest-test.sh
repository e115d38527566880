#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Real-Linux-guest test of virtio-net receive segment coalescing.
#
# Boots Debian's stock x86_64 kernel with a tiny busybox initramfs in QEMU
# (TCG, so it runs anywhere: no KVM needed), with a user-mode (slirp)
# netdev and a virtio-net-pci NIC.  The guest downloads a file of random
# data from an HTTP server on the host, hashes it and reports how many
# packets and bytes eth0 received during the download.  This is done twice,
# once with the device options of the "on" run (default ",rx_coalesce=on")
# and once with those of the "off" run (default ",rx_coalesce=off").
#
# It checks what a real guest sees: that the data arrives intact both ways
# (sha256 computed in the guest equals the host file's), and that with
# coalescing the guest's driver receives far fewer, larger packets (at most
# --max-ratio, default 0.5, times the packets of the "off" run).
#
# With --migrate-to, each run boots on --qemu, downloads the file once,
# and is migrated live to the QEMU given there (another build: stock QEMU
# against patched, both ways, checks the migration stream); the download
# measured and compared is the one on the destination, after migration.
# Both downloads must be intact.  (User networking cannot carry an open
# TCP connection into another process, so no download spans the
# migration: the guest polls the host until it says the migration is
# over.)  --only on|off does one run.  --migrate-opts gives the
# destination's device options instead of the run's (a destination that
# lacks the source's properties, such as QEMU without the series).
#
#   linux-guest-test.sh --qemu PATH/qemu-system-x86_64
#       [--on-opts ",rx_coalesce=on"] [--off-opts ",rx_coalesce=off"]
#       [--size-mib 8] [--json FILE] [--workdir DIR] [--no-compare]
#       [--max-ratio 0.5] [--timeout 300] [--machine pc] [--mem-mib 512]
#       [--migrate-to PATH/qemu-system-x86_64] [--only on|off]
#       [--migrate-opts ",guest_rsc_ext=on"]
#
# The kernel (linux-image-<abi>-amd64, the one the linux-image-amd64
# metapackage currently depends on) and busybox-static are fetched with
# `apt-get download` into the work directory (default build/guest) and
# cached there; nothing is installed on the host.  apt's package lists must
# exist (`apt-get update`); as root the script runs it itself if there are
# none.  If the packages cannot be had, the test prints SKIP: and exits 77.
#
# Exit status: 0 pass, 1 fail, 2 usage error, 77 skipped.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

QEMU=
ON_OPTS=",rx_coalesce=on"
OFF_OPTS=",rx_coalesce=off"
SIZE_MIB=8
JSON=
WORK=$ROOT/build/guest
COMPARE=1
MAX_RATIO=0.5
TIMEOUT=300
MACHINE=pc
MEM_MIB=512
MIGRATE_TO=
MIGRATE_OPTS=
MIGRATE_OPTS_SET=0
RUNS="on off"

usage() {
    sed -n '/^#   linux-guest-test.sh/,/^#$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 2
}

say() { echo "linux-guest-test: $*"; }
die() { echo "linux-guest-test: ERROR: $*" >&2; exit 1; }
bad_usage() { echo "linux-guest-test: $*" >&2; exit 2; }
skip() { echo "SKIP: $*"; exit 77; }

while [ $# -gt 0 ]; do
    case $1 in
    --qemu|--on-opts|--off-opts|--size-mib|--json|--workdir|--max-ratio|\
    --timeout|--machine|--mem-mib|--migrate-to|--only|--migrate-opts)
        [ $# -ge 2 ] || bad_usage "$1 needs a value"
        case $1 in
        --qemu) QEMU=$2 ;;
        --on-opts) ON_OPTS=$2 ;;
        --off-opts) OFF_OPTS=$2 ;;
        --size-mib) SIZE_MIB=$2 ;;
        --json) JSON=$2 ;;
        --workdir) WORK=$2 ;;
        --max-ratio) MAX_RATIO=$2 ;;
        --timeout) TIMEOUT=$2 ;;
        --machine) MACHINE=$2 ;;
        --mem-mib) MEM_MIB=$2 ;;
        --migrate-to) MIGRATE_TO=$2 ;;
        --only) RUNS=$2 ;;
        --migrate-opts) MIGRATE_OPTS=$2; MIGRATE_OPTS_SET=1 ;;
        esac
        shift 2 ;;
    --no-compare) COMPARE=0; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
    esac
done

[ -n "$QEMU" ] || bad_usage "--qemu PATH is required"
[ -x "$QEMU" ] || bad_usage "$QEMU is not an executable"
[ -z "$MIGRATE_TO" ] || [ -x "$MIGRATE_TO" ] ||
    bad_usage "--migrate-to: $MIGRATE_TO is not an executable"
[ "$MIGRATE_OPTS_SET" = 0 ] || [ -n "$MIGRATE_TO" ] ||
    bad_usage "--migrate-opts needs --migrate-to"
case $RUNS in
"on off"|on|off) ;;
*) bad_usage "--only must be on or off" ;;
esac
# the on/off ratio needs both runs
[ "$RUNS" = "on off" ] || COMPARE=0
[[ $SIZE_MIB =~ ^[1-9][0-9]*$ ]] || bad_usage "--size-mib must be a positive integer"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || bad_usage "--timeout must be a positive integer"
[[ $MEM_MIB =~ ^[1-9][0-9]*$ ]] || bad_usage "--mem-mib must be a positive integer"
[[ $MAX_RATIO =~ ^[0-9]*\.?[0-9]+$ ]] || bad_usage "--max-ratio must be a number"
# The file lives in the guest's tmpfs (half of the RAM by default), next
# to the kernel and the unpacked initramfs: keep a comfortable margin.
[ $((SIZE_MIB * 3 + 128)) -le "$MEM_MIB" ] ||
    bad_usage "--size-mib $SIZE_MIB needs more guest RAM: raise --mem-mib"
# The JSON file is written after the workdir may have been changed into.
case $JSON in ''|/*) ;; *) JSON=$PWD/$JSON ;; esac

command -v python3 >/dev/null || skip "python3 (the host's HTTP server) is missing"
command -v timeout >/dev/null || skip "timeout (coreutils) is missing"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

# ---------------------------------------------------------------------------
# Cleanup: only the processes this script started, by their pid.
HTTP_PID=
QEMU_PID=
DST_PID=
cleanup() {
    if [ -n "$QEMU_PID" ]; then kill "$QEMU_PID" 2>/dev/null || true; fi
    if [ -n "$DST_PID" ]; then kill "$DST_PID" 2>/dev/null || true; fi
    if [ -n "$HTTP_PID" ]; then kill "$HTTP_PID" 2>/dev/null || true; fi
    if [ -n "$HTTP_PID" ]; then wait "$HTTP_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# Debian packages: the kernel and busybox, fetched with apt, never installed.
DEBS=$WORK/debs
mkdir -p "$DEBS"

have_apt_lists() {
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

# The kernel image package the linux-image-amd64 metapackage points at,
# e.g. linux-image-6.1.0-56-amd64 (the ABI name changes with updates).
resolve_kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }' ||
        true
}

# apt-get download as root warns that its sandbox user cannot write here;
# downloading as root into our own directory is what we want.
apt_download() {
    local aptopts=()
    [ "$(id -u)" != 0 ] || aptopts=(-o APT::Sandbox::User=root)
    (cd "$DEBS" && apt-get download -q "${aptopts[@]}" "$@")
}

newest_cached() {      # newest cached .deb whose name matches the glob $1
    local f best=
    for f in "$DEBS"/$1; do
        [ -e "$f" ] || continue
        [ -z "$best" ] || [ "$f" -nt "$best" ] && best=$f
    done
    echo "$best"
}

fetch_packages() {
    local kpkg
    kpkg=$(resolve_kernel_pkg)
    if [ -z "$kpkg" ] && ! have_apt_lists && [ "$(id -u)" = 0 ] &&
       [ -z "$(newest_cached 'linux-image-*.deb')" ]; then
        say "no apt package lists: running apt-get update (as root)"
        apt-get update -q >"$WORK/apt-update.log" 2>&1 || true
        kpkg=$(resolve_kernel_pkg)
    fi
    if [ -n "$kpkg" ]; then
        KERNEL_DEB=$(newest_cached "${kpkg}_*.deb")
        if [ -z "$KERNEL_DEB" ]; then
            say "downloading $kpkg"
            apt_download "$kpkg" >"$WORK/apt-download.log" 2>&1 ||
                skip "apt-get download $kpkg failed (no mirror?): see $WORK/apt-download.log"
            KERNEL_DEB=$(newest_cached "${kpkg}_*.deb")
        fi
    else
        # No package lists (or no linux-image-amd64 in them): a kernel
        # fetched by an earlier run still does.
        KERNEL_DEB=$(newest_cached 'linux-image-*-amd64_*.deb')
        [ -n "$KERNEL_DEB" ] ||
            skip "cannot resolve linux-image-amd64 with apt-cache (run apt-get update) and no kernel is cached in $DEBS"
    fi
    BUSYBOX_DEB=$(newest_cached 'busybox-static_*.deb')
    if [ -z "$BUSYBOX_DEB" ]; then
        say "downloading busybox-static"
        apt_download busybox-static >"$WORK/apt-download.log" 2>&1 ||
            skip "apt-get download busybox-static failed (no package lists or mirror?): see $WORK/apt-download.log"
        BUSYBOX_DEB=$(newest_cached 'busybox-static_*.deb')
    fi
    if [ -z "$KERNEL_DEB" ] || [ -z "$BUSYBOX_DEB" ]; then
        skip "apt-get download did not leave the .deb files in $DEBS"
    fi
}

# ---------------------------------------------------------------------------
# Unpack what the guest needs into a compact cache, keyed by the .deb name:
# the kernel image, the modules needed for virtio-net in load order, and
# the busybox binary.  The full kernel package unpacks to ~400 MB; it is
# unpacked into a scratch directory that is removed again.

# Print a module file's contents uncompressed on stdout.  Debian's 6.1
# kernels ship plain .ko files, but other builds compress them, and
# busybox insmod only loads plain ones: decompress on the host.
cat_module() {
    case $1 in
    *.ko) cat "$1" ;;
    *.ko.xz) if command -v xz >/dev/null; then xz -dc "$1"; else "$BUSYBOX" xz -dc "$1"; fi ;;
    *.ko.gz) gzip -dc "$1" ;;
    *.ko.zst) command -v zstd >/dev/null || skip "zstd is needed to decompress $1"
              zstd -qdc "$1" ;;
    *) die "unknown module file type: $1" ;;
    esac
}

# Module names use '_' where file names may use '-'.
modname() { local b=${1##*/}; b=${b%%.ko*}; echo "${b//-/_}"; }

declare -A MOD_PATH=() MOD_BUILTIN=() MOD_SEEN=()
MOD_ORDER=()

# The modules $1 needs loaded first.  Debian's package has no modules.dep
# (depmod creates it at install time), so read them from the module's own
# .modinfo section ("depends=a,b") unless a modules.dep is there.
mod_deps() {
    local name=$1 path=${MOD_PATH[$1]} rel line d
    if [ -f "$MODDIR/modules.dep" ]; then
        rel=${path#"$MODDIR"/}
        line=$(grep -m1 "^$rel:" "$MODDIR/modules.dep" || true)
        for d in ${line#*:}; do modname "$d"; done
    else
        cat_module "$path" | tr '\0' '\n' | sed -n 's/^depends=//p' |
            head -1 | tr ',' '\n' | sed '/^$/d'
    fi
}

# Depth-first: a module's dependencies go into MOD_ORDER before it.
add_module() {
    local name=$1 d
    [ -z "${MOD_SEEN[$name]:-}" ] || return 0
    MOD_SEEN[$name]=1
    if [ -n "${MOD_BUILTIN[$name]:-}" ]; then
        say "module $name is built into the kernel"
        return 0
    fi
    [ -n "${MOD_PATH[$name]:-}" ] || die "module $name not found under $MODDIR"
    for d in $(mod_deps "$name"); do add_module "$d"; done
    MOD_ORDER+=("$name")
}

unpack_packages() {
    local kname bname scratch m
    kname=$(basename "$KERNEL_DEB" .deb)
    bname=$(basename "$BUSYBOX_DEB" .deb)
    KCACHE=$WORK/unpacked/$kname
    BCACHE=$WORK/unpacked/$bname
    BUSYBOX=$BCACHE/busybox

    if [ ! -f "$BCACHE/done" ]; then
        scratch=$WORK/unpacked/scratch
        rm -rf "$scratch" "$BCACHE" && mkdir -p "$scratch" "$BCACHE"
        dpkg-deb -x "$BUSYBOX_DEB" "$scratch"
        cp "$scratch/bin/busybox" "$BUSYBOX"
        rm -rf "$scratch"
        touch "$BCACHE/done"
    fi

    if [ ! -f "$KCACHE/done" ]; then
        say "unpacking $(basename "$KERNEL_DEB")"
        scratch=$WORK/unpacked/scratch
        rm -rf "$scratch" "$KCACHE" && mkdir -p "$scratch" "$KCACHE/modules"
        dpkg-deb -x "$KERNEL_DEB" "$scratch"
        local vmlinuz
        vmlinuz=$(compgen -G "$scratch/boot/vmlinuz-*" | head -1 || true)
        [ -n "$vmlinuz" ] || die "no /boot/vmlinuz-* in $KERNEL_DEB"
        cp "$vmlinuz" "$KCACHE/vmlinuz"
        local kver=${vmlinuz##*/vmlinuz-}
        MODDIR=$scratch/lib/modules/$kver
        [ -d "$MODDIR" ] || die "no lib/modules/$kver in $KERNEL_DEB"

        # Index every module by name (inline, as modname does: a
        # subshell for each of ~4000 modules would cost seconds).
        local f b
        while IFS= read -r f; do
            b=${f##*/}; b=${b%%.ko*}; MOD_PATH[${b//-/_}]=$f
        done < <(find "$MODDIR" -name '*.ko' -o -name '*.ko.*')
        if [ -f "$MODDIR/modules.builtin" ]; then
            while IFS= read -r f; do
                b=${f##*/}; b=${b%%.ko*}; MOD_BUILTIN[${b//-/_}]=1
            done < "$MODDIR/modules.builtin"
        fi
        # The PCI transport and the NIC driver; their dependencies follow
        # (virtio, virtio_ring, virtio_pci_{modern,legacy}_dev,
        # net_failover, failover on Debian 6.1).
        add_module virtio_pci
        add_module virtio_net
        : > "$KCACHE/modules/order"
        for m in ${MOD_ORDER[@]+"${MOD_ORDER[@]}"}; do
            cat_module "${MOD_PATH[$m]}" > "$KCACHE/modules/$m.ko"
            echo "$m" >> "$KCACHE/modules/order"
        done
        echo "$kver" > "$KCACHE/version"
        rm -rf "$scratch"
        touch "$KCACHE/done"
    fi
    KVER=$(cat "$KCACHE/version")
}

# ---------------------------------------------------------------------------
# The initramfs: busybox, the modules, and /init, which does the whole test
# and powers the guest off.  Everything the guest reports is on lines
# starting with "RSCTEST " on the serial console.  The kernel's boot
# messages go to the serial log too (for debugging a guest that does not
# get that far); /init silences them with dmesg -n 1 before it reports, so
# they cannot interleave with its lines.
write_init() {
    cat > "$1" <<'INIT'
#!/bin/sh
# PID 1 of the test guest, generated by tests/guest/linux-guest-test.sh.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
# The initramfs has no /dev/console node, so the kernel could not give us
# stdin/stdout: take the console now that devtmpfs provides it.
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
dmesg -n 1

say() { echo "RSCTEST $*"; }
finish() {
    say "status=$1"
    sync
    poweroff -f
    echo o > /proc/sysrq-trigger
    sleep 60
}
fail() { say "error=$*"; finish fail; }

url=
migrate=
read -r cmdline < /proc/cmdline
for w in $cmdline; do
    case $w in
    rsctest.url=*) url=${w#rsctest.url=} ;;
    rsctest.migrate=1) migrate=1 ;;
    esac
done
[ -n "$url" ] || fail "no rsctest.url= on the kernel command line"

# No IPv6: slirp would answer router solicitations, and those packets must
# not be counted as part of the download.
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null

while read -r m; do
    insmod "/modules/$m.ko" || fail "insmod $m"
done < /modules/order
say "modules=$(tr '\n' ' ' < /modules/order)"

n=0
while [ ! -e /sys/class/net/eth0 ]; do
    n=$((n + 1))
    [ $n -le 100 ] || fail "no eth0 10 s after loading virtio_net"
    usleep 100000
done

# slirp's fixed addresses: the guest is 10.0.2.15, the host 10.0.2.2.
ip link set lo up
ip link set eth0 up || fail "ip link set eth0 up"
ip addr add 10.0.2.15/24 dev eth0 || fail "ip addr add"
ip route add default via 10.0.2.2 || fail "ip route add"
say "driver=$(basename "$(readlink /sys/class/net/eth0/device/driver)")"
say "features=$(cat /sys/class/net/eth0/device/features)"
say "mtu=$(cat /sys/class/net/eth0/mtu)"
# Resolve the gateway's MAC now, so the ARP exchange is not counted.
ping -c 1 -W 5 10.0.2.2 >/dev/null 2>&1 || say "note=ping 10.0.2.2 failed"

if [ -n "$migrate" ]; then
    # once before the migration; then wait for the host's word that the
    # guest runs on the destination (a poll cut by the migration fails
    # and is retried)
    wget -q -O /tmp/payload "$url" || fail "wget $url before migration"
    say "before_sha256=$(sha256sum /tmp/payload | cut -d' ' -f1)"
    rm -f /tmp/payload
    say "waiting=1"
    n=0
    # (busybox-static 1.35's wget crashes with -T: no timeout option; a
    # connection the migration cuts is reset by slirp on the destination)
    until wget -q -O /tmp/go "${url%/*}/migrated" 2>/dev/null; do
        n=$((n + 1))
        [ $n -le 600 ] || fail "the host did not say the migration was over"
        usleep 200000
    done
    say "migrated=1"
fi

ctr() { cat "/sys/class/net/eth0/statistics/$1"; }
# CPU time the guest spent busy (user, nice, system, irq, softirq) and in
# softirq (where received packets are processed), in USER_HZ ticks (10 ms)
cpu() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $8 }' /proc/stat; }
p0=$(ctr rx_packets); b0=$(ctr rx_bytes); tp0=$(ctr tx_packets)
set -- $(cpu); c0=$1; s0=$2
t0=$(cut -d' ' -f1 /proc/uptime)
wget -q -O /tmp/payload "$url" || fail "wget $url"
t1=$(cut -d' ' -f1 /proc/uptime)
set -- $(cpu); c1=$1; s1=$2
p1=$(ctr rx_packets); b1=$(ctr rx_bytes); tp1=$(ctr tx_packets)

say "size=$(wc -c < /tmp/payload)"
say "sha256=$(sha256sum /tmp/payload | cut -d' ' -f1)"
say "rx_packets=$((p1 - p0))"
say "rx_bytes=$((b1 - b0))"
say "tx_packets=$((tp1 - tp0))"
say "elapsed_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }')"
say "cpu_ms=$(( (c1 - c0) * 10 ))"
say "softirq_ms=$(( (s1 - s0) * 10 ))"
say "rx_dropped=$(ctr rx_dropped)"
say "rx_errors=$(ctr rx_errors)"
finish ok
INIT
}

build_initramfs() {
    local root=$WORK/initramfs
    rm -rf "$root"
    mkdir -p "$root"/{bin,dev,proc,sys,tmp,modules}
    cp "$BUSYBOX" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    cp "$KCACHE"/modules/* "$root/modules/"
    write_init "$root/init"
    chmod 755 "$root/init" "$root/bin/busybox"
    # busybox itself writes the cpio (newc, as the kernel wants it), so the
    # host needs no cpio package; -R 0:0 makes every file root's.
    (cd "$root" && find . | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) |
        gzip -6 > "$WORK/initramfs.cpio.gz"
}

# ---------------------------------------------------------------------------
# Firmware: the pc machine needs bios-256k.bin, and -kernel needs
# linuxboot_dma.bin.  Debian's QEMU and a build whose qemu-bundle has
# them (scripts/qemu-lib.sh link_firmware) find them themselves; for any
# other build, point -L at links to Debian's seabios, ipxe-qemu and
# qemu-system-data files.
FW_ARGS=()
find_firmware() {
    local dirs d f missing=
    dirs=$("$QEMU" -L help 2>/dev/null || true)
    for f in bios-256k.bin linuxboot_dma.bin; do
        local found=
        while IFS= read -r d; do
            [ -n "$d" ] && [ -e "$d/$f" ] && found=1
        done <<< "$dirs"
        [ -n "$found" ] || missing+=" $f"
    done
    [ -n "$missing" ] || return 0
    local fw=$WORK/firmware
    mkdir -p "$fw"
    for f in /usr/share/seabios/* /usr/lib/ipxe/qemu/* /usr/share/qemu/*; do
        [ -e "$f" ] || continue
        [ -e "$fw/${f##*/}" ] || ln -sf "$f" "$fw/"
    done
    for f in $missing; do
        [ -e "$fw/$f" ] || skip "QEMU firmware $f not found: install seabios and qemu-system-data"
    done
    say "QEMU lacks$missing: using -L $fw"
    FW_ARGS=(-L "$fw")
}

# ---------------------------------------------------------------------------
# Host side HTTP server on a port the kernel picks (port 0), which it
# prints: no race between finding a free port and binding it.
PAYLOAD=$WORK/www/payload.bin
start_http() {
    mkdir -p "$WORK/www"
    python3 -u -m http.server --bind 127.0.0.1 --directory "$WORK/www" 0 \
        >"$WORK/http.log" 2>&1 &
    HTTP_PID=$!
    local n=0
    HTTP_PORT=
    while [ -z "$HTTP_PORT" ]; do
        HTTP_PORT=$(sed -n 's/^Serving HTTP on [^ ]* port \([0-9]*\).*/\1/p' "$WORK/http.log")
        [ -n "$HTTP_PORT" ] && break
        kill -0 "$HTTP_PID" 2>/dev/null || { cat "$WORK/http.log"; die "HTTP server did not start"; }
        n=$((n + 1))
        [ $n -le 100 ] || die "HTTP server did not report its port in 10 s"
        sleep 0.1
    done
    say "HTTP server on 127.0.0.1:$HTTP_PORT (guest: http://10.0.2.2:$HTTP_PORT/)"
}

# ---------------------------------------------------------------------------
# Live migration for --migrate-to: when the guest on the source waits,
# migrate it through a unix socket to the destination started with
# -incoming, stop the source, and tell the guest through the HTTP server.
# $1: the source's serial log, $2: its QMP socket, $3: the migration
# socket, $4: the destination's output.  A message on failure.
migrate_guest() {
    local log=$1 qmp=$2 mig=$3 out=$4 n=0
    until tr -d '\r' 2>/dev/null < "$log" | grep -q '^RSCTEST waiting='; do
        kill -0 "$QEMU_PID" 2>/dev/null || { echo "the source QEMU exited"; return; }
        tr -d '\r' 2>/dev/null < "$log" | grep -q '^RSCTEST error=' &&
            { echo "the guest failed before the migration"; return; }
        n=$((n + 1))
        [ $n -le $((TIMEOUT * 10)) ] || { echo "the guest did not get to the migration"; return; }
        sleep 0.1
    done
    kill -0 "$DST_PID" 2>/dev/null || { echo "the destination QEMU exited: $(tail -n 3 "$out")"; return; }
    res=$(python3 - "$qmp" "unix:$mig" "$TIMEOUT" 2>&1 <<'PY'
import json, socket, sys, time

sock, uri, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile("rw")


def cmd(name, **args):
    f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "event" in r:
            continue
        if "error" in r:
            print(f"{name}: {r['error']['desc']}")
            sys.exit(0)
        return r["return"]


json.loads(f.readline())            # greeting
cmd("qmp_capabilities")
cmd("migrate", uri=uri)
end = time.monotonic() + timeout
while True:
    st = cmd("query-migrate").get("status")
    if st == "completed":
        break
    if st in ("failed", "cancelled") or time.monotonic() > end:
        print(f"migration {st}")
        sys.exit(0)
    time.sleep(0.1)
cmd("quit")
print("ok")
PY
)
    [ "$res" = ok ] || { echo "${res:-QMP client failed}"; return; }
    touch "$WORK/www/migrated"
}

# ---------------------------------------------------------------------------
# One guest run.  $1: label (on/off), $2: extra virtio-net-pci options.
declare -A R=()
run_guest() {
    local label=$1 opts=$2 log=$WORK/serial-$1.log out=$WORK/qemu-$1.log
    local dlog=$WORK/serial-$1-dst.log dout=$WORK/qemu-$1-dst.log
    local qmp=$WORK/qmp-$1.sock mig=$WORK/migrate-$1.sock
    local start end rc=0 k v append problem
    # romfile=: no option ROM, the kernel is loaded directly (-kernel).
    # -display none and a file serial: nothing touches the terminal, and
    # the log is complete even if the run is killed by the timeout.
    local args=(
        -M "$MACHINE" -accel tcg -m "$MEM_MIB" -smp 1
        -nodefaults -display none -no-reboot
        ${FW_ARGS[@]+"${FW_ARGS[@]}"}
        -serial "file:$log"
        -kernel "$KCACHE/vmlinuz" -initrd "$WORK/initramfs.cpio.gz"
        -netdev "user,id=n0"
        -device "virtio-net-pci,netdev=n0,romfile=$opts"
    )
    append="console=ttyS0 panic=-1 rsctest.url=http://10.0.2.2:$HTTP_PORT/payload.bin"
    [ -z "$MIGRATE_TO" ] || append+=" rsctest.migrate=1"
    args+=(-append "$append")
    say "run '$label': -device virtio-net-pci,netdev=n0,romfile=$opts"
    rm -f "$log" "$dlog" "$qmp" "$mig" "$WORK/www/migrated"
    start=$(date +%s.%N)
    if [ -n "$MIGRATE_TO" ]; then
        local dargs=("${args[@]}")
        dargs=("${dargs[@]/#file:$log/file:$dlog}")
        if [ "$MIGRATE_OPTS_SET" = 1 ]; then
            local dev="virtio-net-pci,netdev=n0,romfile=$MIGRATE_OPTS"
            dargs=("${dargs[@]/#virtio-net-pci,netdev=n0,romfile=*/"$dev"}")
            say "run '$label': destination -device $dev"
        fi
        dargs+=(-incoming "unix:$mig")
        { printf '%q ' "$MIGRATE_TO" "${dargs[@]}"; echo; } > "$dout"
        timeout -k 5 "$TIMEOUT" "$MIGRATE_TO" "${dargs[@]}" </dev/null \
            >>"$dout" 2>&1 &
        DST_PID=$!
        args+=(-qmp "unix:$qmp,server=on,wait=off")
    fi
    { printf '%q ' "$QEMU" "${args[@]}"; echo; } > "$out"
    timeout -k 5 "$TIMEOUT" "$QEMU" "${args[@]}" </dev/null >>"$out" 2>&1 &
    QEMU_PID=$!
    if [ -n "$MIGRATE_TO" ]; then
        problem=$(migrate_guest "$log" "$qmp" "$mig" "$dout")
        if [ -n "$problem" ]; then
            R[$label.problem]="migration: $problem"
            kill "$DST_PID" 2>/dev/null || true
        fi
        if [ -n "$QEMU_PID" ]; then
            kill "$QEMU_PID" 2>/dev/null || true
            wait "$QEMU_PID" 2>/dev/null || true
            QEMU_PID=
        fi
        wait "$DST_PID" || rc=$?
        DST_PID=
        # the guest's last words are on the destination's console
        cat "$dlog" >> "$log" 2>/dev/null || true
        out=$dout
    else
        wait "$QEMU_PID" || rc=$?
        QEMU_PID=
    fi
    end=$(date +%s.%N)
    R[$label.wall_s]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    R[$label.opts]=$opts
    # Every "RSCTEST key=value" line of the serial log into R (one key a
    # line; the value is the rest of the line).
    while read -r k v; do
        R[$label.$k]=$v
    done < <(tr -d '\r' 2>/dev/null < "$log" |
             sed -n 's/^RSCTEST \([a-z0-9_]*\)=/\1 /p')
    if [ -n "${R[$label.problem]:-}" ]; then
        :
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        R[$label.problem]="QEMU timed out after ${TIMEOUT}s"
    elif [ "$rc" -gt 128 ]; then
        R[$label.problem]="QEMU died of signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo ?))"
    elif [ "$rc" != 0 ]; then
        R[$label.problem]="QEMU exited with status $rc"
    elif [ "${R[$label.status]:-}" != ok ]; then
        R[$label.problem]="guest did not finish: ${R[$label.error]:-no result on the console}"
    fi
    if [ -n "${R[$label.problem]:-}" ]; then
        echo "---- run '$label' failed: ${R[$label.problem]}; QEMU output ($out):"
        tail -n 20 "$out"
        echo "---- last lines of the serial log ($log):"
        tail -n 40 "$log" 2>/dev/null | tr -d '\r'
        echo "----"
        return 1
    fi
    say "run '$label': $(decode_features "${R[$label.features]:-}"), ${R[$label.wall_s]} s"
    # Coalesced packets can only be given to a guest that accepts large
    # packets with a validated checksum: say so when it does not.
    local f=${R[$label.features]:-}
    if [ "${f:1:1}${f:7:1}" != 11 ] && [ "${f:1:1}${f:8:1}" != 11 ]; then
        say "run '$label': note: the guest did not negotiate GUEST_CSUM with GUEST_TSO4 or GUEST_TSO6"
    fi
}

# The guest's negotiated virtio features (sysfs gives one '0'/'1'
# character per bit, bit 0 first): name the bits that matter here.
decode_features() {
    local bits=$1 out="" i n
    local -A name=([0]=CSUM [1]=GUEST_CSUM [7]=GUEST_TSO4 [8]=GUEST_TSO6
                   [9]=GUEST_ECN [10]=GUEST_UFO [15]=MRG_RXBUF [32]=VERSION_1
                   [61]=RSC_EXT)
    for i in 0 1 7 8 9 10 15 32 61; do
        n=${name[$i]}
        [ "${bits:$i:1}" = 1 ] && out+="$n " || out+="-$n "
    done
    echo "features ${out% }"
}

# ---------------------------------------------------------------------------
fetch_packages
unpack_packages
say "kernel $KVER ($(basename "$KERNEL_DEB")), modules: $(tr '\n' ' ' < "$KCACHE/modules/order")"
build_initramfs
find_firmware
QEMU_VERSION=$("$QEMU" --version | head -1)
say "$QEMU_VERSION"

# Fail early, with a clear message, if the on/off options name a property
# this QEMU does not have.
opts_used=
[[ " $RUNS " != *" on "* ]] || opts_used+=$ON_OPTS
[[ " $RUNS " != *" off "* ]] || opts_used+=$OFF_OPTS
for q in "$QEMU" ${MIGRATE_TO:+"$MIGRATE_TO"}; do
    props=$("$q" -device virtio-net-pci,help 2>/dev/null || true)
    o_q=$opts_used
    [ "$q" = "$QEMU" ] || [ "$MIGRATE_OPTS_SET" = 0 ] || o_q=$MIGRATE_OPTS
    for o in ${o_q//,/ }; do
        p=${o%%=*}
        grep -q "^ *$p=" <<< "$props" ||
            { echo "FAIL: $q has no virtio-net-pci property '$p' (from '$o')"; exit 1; }
    done
done

mkdir -p "$WORK/www"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$PAYLOAD.tmp"
mv "$PAYLOAD.tmp" "$PAYLOAD"
HOST_SHA=$(sha256sum "$PAYLOAD" | cut -d' ' -f1)
HOST_SIZE=$(stat -c %s "$PAYLOAD")
start_http

T0=$(date +%s)
FAIL=()
for l in $RUNS; do
    o=$ON_OPTS
    [ "$l" = on ] || o=$OFF_OPTS
    run_guest "$l" "$o" || FAIL+=("run '$l': ${R[$l.problem]}")
done
T1=$(date +%s)

for l in $RUNS; do
    [ -z "${R[$l.problem]:-}" ] || continue
    if [ -n "$MIGRATE_TO" ] && [ "${R[$l.before_sha256]:-}" != "$HOST_SHA" ]; then
        FAIL+=("run '$l': before migration, guest sha256 ${R[$l.before_sha256]:-?} != host $HOST_SHA")
    fi
    if [ -n "$MIGRATE_TO" ] && [ "${R[$l.migrated]:-}" != 1 ]; then
        FAIL+=("run '$l': the guest did not report running after the migration")
    fi
    if [ "${R[$l.sha256]:-}" != "$HOST_SHA" ]; then
        FAIL+=("run '$l': guest sha256 ${R[$l.sha256]:-?} != host $HOST_SHA")
    fi
    if [ "${R[$l.size]:-}" != "$HOST_SIZE" ]; then
        FAIL+=("run '$l': guest got ${R[$l.size]:-?} bytes, host file has $HOST_SIZE")
    fi
done

RATIO=
if [ "$RUNS" = "on off" ] && [ -z "${R[on.problem]:-}" ] &&
   [ -z "${R[off.problem]:-}" ]; then
    RATIO=$(awk -v a="${R[on.rx_packets]}" -v b="${R[off.rx_packets]}" \
        'BEGIN { if (b > 0) printf "%.3f", a / b; else print "inf" }')
    if [ "$COMPARE" = 1 ]; then
        if ! awk -v r="$RATIO" -v m="$MAX_RATIO" 'BEGIN { exit !(r != "inf" && r + 0 <= m + 0) }'; then
            FAIL+=("'on' received ${R[on.rx_packets]} packets, 'off' ${R[off.rx_packets]}: ratio $RATIO > $MAX_RATIO")
        fi
    fi
fi

# ---------------------------------------------------------------------------
echo
echo "linux-guest-test: $QEMU_VERSION, kernel $KVER, machine $MACHINE, TCG"
[ -z "$MIGRATE_TO" ] ||
    echo "migrated live to: $MIGRATE_TO ($("$MIGRATE_TO" --version | head -1)); the numbers are the destination's"
echo "file: $HOST_SIZE bytes, sha256 $HOST_SHA"
printf '%-4s %10s %12s %10s %8s %7s %8s %8s  %-7s %s\n' \
    run rx_packets rx_bytes tx_packets ms cpu_ms sirq_ms wall_s sha256 opts
for l in $RUNS; do
    sha=-
    [ -z "${R[$l.sha256]:-}" ] || sha=mismatch
    [ "${R[$l.sha256]:-}" != "$HOST_SHA" ] || sha=ok
    printf '%-4s %10s %12s %10s %8s %7s %8s %8s  %-7s %s\n' "$l" \
        "${R[$l.rx_packets]:--}" "${R[$l.rx_bytes]:--}" "${R[$l.tx_packets]:--}" \
        "${R[$l.elapsed_ms]:--}" "${R[$l.cpu_ms]:--}" "${R[$l.softirq_ms]:--}" \
        "${R[$l.wall_s]:--}" "$sha" "'${R[$l.opts]}'"
done
if [ -n "$RATIO" ]; then
    if [ "$COMPARE" = 1 ]; then
        echo "rx_packets on/off: ${R[on.rx_packets]}/${R[off.rx_packets]} = $RATIO (must be <= $MAX_RATIO)"
    else
        echo "rx_packets on/off: ${R[on.rx_packets]}/${R[off.rx_packets]} = $RATIO (NOT checked: --no-compare)"
    fi
fi
echo "guest runs: $((T1 - T0)) s; logs in $WORK"

if [ -n "$JSON" ]; then
    args=()
    for l in $RUNS; do
        for k in opts rx_packets rx_bytes tx_packets elapsed_ms cpu_ms softirq_ms wall_s sha256 size features problem; do
            args+=("$l.$k=${R[$l.$k]:-}")
        done
    done
    python3 - "$JSON" "qemu=$QEMU" "qemu_version=$QEMU_VERSION" "kernel=$KVER" \
        "machine=$MACHINE" "size_bytes=$HOST_SIZE" "sha256=$HOST_SHA" \
        "ratio=$RATIO" "max_ratio=$MAX_RATIO" "compare=$COMPARE" \
        "result=$([ ${#FAIL[@]} = 0 ] && echo pass || echo fail)" "${args[@]}" <<'PY'
import json, sys

out, kv = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
ints = {"rx_packets", "rx_bytes", "tx_packets", "elapsed_ms", "cpu_ms",
        "softirq_ms", "size", "size_bytes"}

def value(k, v):
    if k in ("opts", "qemu"):
        return v
    if v == "":
        return None
    if k in ints:
        return int(v)
    if k in ("ratio", "max_ratio", "wall_s"):
        return float(v) if v != "inf" else None
    return v

doc = {k: value(k, v) for k, v in kv.items() if "." not in k}
doc["compare"] = kv["compare"] == "1"
doc["runs"] = {}
for k, v in kv.items():
    if "." in k:
        run, key = k.split(".", 1)
        doc["runs"].setdefault(run, {})[key] = value(key, v)
for run in doc["runs"].values():
    run["sha256_ok"] = run.get("sha256") == doc["sha256"]
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
PY
    echo "JSON: $JSON"
fi

if [ ${#FAIL[@]} != 0 ]; then
    for f in "${FAIL[@]}"; do echo "FAIL: $f"; done
    exit 1
fi
[ "$COMPARE" = 1 ] || echo "NOTE: the fewer-packets check was skipped (--no-compare)"
echo "PASS"
