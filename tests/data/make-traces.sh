#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make-traces.sh - record the small real TCP traces in tests/data/
#
# Builds sender -- router -- receiver out of three network namespaces and
# two veth pairs, runs short bulk TCP transfers (a python3 sender and
# receiver embedded below) and records, with tcpdump, the frames the router
# sends toward the receiver: MTU-sized frames with real checksums, what a
# virtio-net device would receive.  A second capture on the receiver's
# interface (after Linux GRO) gives Linux's coalescing ratio for reference.
# Writes the *.pcap files and README.md (their table) next to this script,
# or into the directory given as the only argument.
#
# Needs root (namespaces, veth, nftables, ethtool, tcpdump) and: ip, nft,
# ethtool, tcpdump, timeout, python3 (>= 3.7, standard library only).  Sends
# traffic only between the namespaces it creates, and deletes them on exit.
#
# Usage: sudo tests/data/make-traces.sh [OUTDIR]
#        sudo ONLY=ipv4-ts,ipv4-bidir tests/data/make-traces.sh /tmp/x
#        (records only those traces and leaves README.md alone)
#        KEEP_TMP=1: keep the temporary directory (captures, failed ones too)
#
# GRO on veth: a veth device has no NAPI by default; its peer's xmit hands
# the skb to netif_rx() and nothing coalesces.  Since Linux 5.13 (commit
# "veth: allow enabling NAPI even without XDP") `ethtool -K DEV gro on` on
# the receiving end gives it a NAPI instance whose poll calls
# napi_gro_receive(), so GRO coalesces there with no XDP program and no
# threaded NAPI.  tcpdump's tap runs in __netif_receive_skb_core(), after
# GRO, so a capture on the receiver's device shows the merged packets
# (tested on 6.18: up to ~61 KiB).  The script checks this: it fails if the
# receiver capture has no packet larger than the MTU.  A capture on the
# router's device toward the receiver is taken in dev_queue_xmit_nit(),
# after the nftables forward and egress hooks: packets dropped or diverted
# there are not in it, duplicates and late (reordered) frames are.
set -euo pipefail

die() { echo "make-traces.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, veth, nft)"
for t in ip nft ethtool tcpdump timeout python3; do
    command -v "$t" >/dev/null ||
        die "'$t' not found; install it (scripts/deps.sh installs" \
            "tcpdump nftables ethtool iproute2)"
done
python3 -c 'import sys; sys.exit(sys.version_info < (3, 7))' ||
    die "python3 >= 3.7 needed"

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mkdir -p "${1:-$HERE}" && cd "${1:-$HERE}" && pwd)
TMP=$(mktemp -d /tmp/rsc-traces.XXXXXX)
NS_S=rsc-snd-$$
NS_R=rsc-rtr-$$
NS_D=rsc-rcv-$$
PIDS=()

MTU=1500
MAX_PCAP=$((400 * 1024))
KIB=1024

# addresses: sender side 10.77.1.0/24 fd00:77:1::/64,
# receiver side 10.77.2.0/24 fd00:77:2::/64
S4=10.77.1.1 R4S=10.77.1.2 R4D=10.77.2.1 D4=10.77.2.2
S6=fd00:77:1::1 R6S=fd00:77:1::2 R6D=fd00:77:2::1 D6=fd00:77:2::2

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "$NS_S" "$NS_R" "$NS_D"; do
        ip netns del "$p" 2>/dev/null || true
    done
    if [ -n "${KEEP_TMP:-}" ]; then
        echo "make-traces.sh: temporary files kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

# forget PID: it has been waited for; cleanup must not kill its (reusable) id
forget() {
    local p keep=()
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}
trap 'exit 130' INT TERM

inS() { ip netns exec "$NS_S" "$@"; }
inR() { ip netns exec "$NS_R" "$@"; }
inD() { ip netns exec "$NS_D" "$@"; }

# --- python3 helper: sender, receiver, pcap statistics, README ------------
cat > "$TMP/rsc.py" <<'PYEOF'
# SPDX-License-Identifier: GPL-2.0-or-later
"""Helper of make-traces.sh: TCP sender/receiver, pcap parser, README."""
import array
import collections
import json
import os
import select
import socket
import struct
import sys
import time

CHUNK = 64 * 1024               # size of the writes; set by serve/send
GAP = 0.0                       # seconds between writes; set by serve/send


def pattern(port, nbytes):
    """Stream sent from local port P: 32-bit big-endian words,
    word k = (P << 16) + k (mod 2^32)."""
    assert nbytes % 4 == 0
    a = array.array('I', [((port << 16) + k) & 0xffffffff
                          for k in range(nbytes // 4)])
    assert a.itemsize == 4
    if sys.byteorder == 'little':
        a.byteswap()
    return a.tobytes()


def fam(f):
    return socket.AF_INET6 if f == '6' else socket.AF_INET


def pump(conns, expect, name):
    """Run connections [(socket, data to send, peer port)] in one thread
    (threads would take turns on the GIL and serialise the flows): send
    each one's data in writes of CHUNK bytes, GAP seconds apart, then shut
    down sending; receive until EOF and check it is `expect` bytes of the
    peer's pattern.  A connection with nothing to send closes after EOF."""
    st = {}
    for c, data, rport in conns:
        c.setblocking(False)
        st[c] = dict(data=data, off=0, rport=rport, got=bytearray(),
                     eof=False, shut=not data, next=0.0)
    errs = []
    while st:
        now = time.monotonic()
        rd = [c for c, x in st.items() if not x['eof']]
        wr = [c for c, x in st.items() if not x['shut'] and x['next'] <= now]
        later = [x['next'] - now for x in st.values()
                 if not x['shut'] and x['next'] > now]
        rd, wr, _ = select.select(rd, wr, [], min(later) if later else None)
        for c in rd:
            b = st[c]['got']
            n = len(b)
            b += c.recv(1 << 16)
            st[c]['eof'] = len(b) == n
        for c in wr:
            x = st[c]
            x['off'] += c.send(x['data'][x['off']:x['off'] + CHUNK])
            x['next'] = time.monotonic() + GAP
            if x['off'] == len(x['data']):
                c.shutdown(socket.SHUT_WR)
                x['shut'] = True
        for c in [c for c, x in st.items() if x['eof'] and x['shut']]:
            c.close()
            x = st.pop(c)
            got, rport = x['got'], x['rport']
            if len(got) != expect or got != pattern(rport, expect):
                errs.append('%s: stream from port %d: %d bytes, want %d, '
                            'content %s' % (
                                name, rport, len(got), expect,
                                'ok' if got == pattern(rport, len(got))
                                else 'WRONG'))
    return errs


def serve(f, ports, send, expect, ready):
    socks = []
    for p in ports:
        s = socket.socket(fam(f), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('::' if f == '6' else '0.0.0.0', p))
        s.listen(1)
        socks.append((s, p, pattern(p, send)))
    open(ready, 'w').close()
    conns = []
    for s, p, data in socks:
        c, peer = s.accept()
        s.close()
        conns.append((c, data, peer[1]))
    return pump(conns, expect, 'receiver')


def client(f, dst, pairs, send, expect):
    conns = []
    for lport, rport in pairs:
        data = pattern(lport, send)
        c = socket.socket(fam(f), socket.SOCK_STREAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind(('::' if f == '6' else '0.0.0.0', lport))
        c.connect((dst, rport))
        conns.append((c, data, rport))
    return pump(conns, expect, 'sender')


def delay(indev, outdev, usec, mark, ready):
    """Delay line: frames arriving on indev leave outdev usec later."""
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    rx.bind((indev, 3))
    rx.setblocking(False)
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    tx.setsockopt(socket.SOL_SOCKET, getattr(socket, 'SO_MARK', 36), mark)
    tx.bind((outdev, 0))
    open(ready, 'w').close()
    q = collections.deque()
    while True:
        t = max(0, q[0][0] - time.monotonic()) if q else None
        if select.select([rx], [], [], t)[0]:
            while True:
                try:
                    fr, addr = rx.recvfrom(65536)
                except BlockingIOError:
                    break
                if addr[2] != socket.PACKET_OUTGOING:
                    q.append((time.monotonic() + usec / 1e6, fr))
        now = time.monotonic()
        while q and q[0][0] <= now:
            tx.send(q.popleft()[1])


# --- pcap ------------------------------------------------------------------

def csum(data, acc=0):
    if len(data) & 1:
        data += b'\0'
    acc += sum(array.array('H', data))
    while acc >> 16:
        acc = (acc & 0xffff) + (acc >> 16)
    return acc


def read_pcap(path):
    """Yield (orig_len, frame bytes); pcap (not pcapng), Ethernet only."""
    with open(path, 'rb') as fh:
        hdr = fh.read(24)
        if len(hdr) < 24:
            raise SystemExit('%s: not a pcap file' % path)
        magic = hdr[:4]
        if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
            e = '<'
        elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
            e = '>'
        else:
            raise SystemExit('%s: not a classic pcap file' % path)
        linktype = struct.unpack(e + 'I', hdr[20:24])[0] & 0x0fffffff
        if linktype != 1:
            raise SystemExit('%s: linktype %d, not Ethernet' %
                             (path, linktype))
        while True:
            ph = fh.read(16)
            if len(ph) < 16:
                return
            _, _, incl, orig = struct.unpack(e + 'IIII', ph)
            yield orig, fh.read(incl)


def parse(frame):
    """Return a dict for an Ethernet/IPv4|IPv6/TCP frame, else None."""
    off, et = 14, struct.unpack('!H', frame[12:14])[0]
    while et in (0x8100, 0x88a8):
        et = struct.unpack('!H', frame[off + 2:off + 4])[0]
        off += 4
    if et == 0x0800:
        v = frame[off]
        ihl = (v & 15) * 4
        tot = struct.unpack('!H', frame[off + 2:off + 4])[0]
        fragoff = struct.unpack('!H', frame[off + 6:off + 8])[0] & 0x3fff
        if v >> 4 != 4 or frame[off + 9] != 6 or fragoff:
            return None
        if tot == 0:            # GSO/BIG TCP packet: length from capture
            tot = len(frame) - off
        src = socket.inet_ntop(socket.AF_INET, frame[off + 12:off + 16])
        dst = socket.inet_ntop(socket.AF_INET, frame[off + 16:off + 20])
        pseudo = frame[off + 12:off + 20] + struct.pack('!HH', 6, tot - ihl)
        tcp = frame[off + ihl:off + tot]
        iplen = tot
    elif et == 0x86dd:
        plen = struct.unpack('!H', frame[off + 4:off + 6])[0]
        nh = frame[off + 6]
        if plen == 0:
            plen = len(frame) - off - 40
        src = socket.inet_ntop(socket.AF_INET6, frame[off + 8:off + 24])
        dst = socket.inet_ntop(socket.AF_INET6, frame[off + 24:off + 40])
        p, end = off + 40, off + 40 + plen
        while nh in (0, 43, 60):            # hop-by-hop, routing, dst opts
            nh, hl = frame[p], (frame[p + 1] + 1) * 8
            p += hl
        if nh != 6:
            return None
        tcp = frame[p:end]
        pseudo = frame[off + 8:off + 40] + struct.pack('!II', len(tcp), 6)
        iplen = 40 + plen
    else:
        return None
    sport, dport, seq, ack, doff, flags, win = struct.unpack(
        '!HHIIBBH', tcp[:16])
    thl = (doff >> 4) * 4
    opts, ts = tcp[20:thl], False
    i = 0
    while i < len(opts):
        k = opts[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        if k == 8:
            ts = True
        i += max(2, opts[i + 1]) if i + 1 < len(opts) else len(opts)
    return dict(src=src, dst=dst, sport=sport, dport=dport, seq=seq,
                ack=ack, flags=flags, win=win, plen=len(tcp) - thl, ts=ts,
                iplen=iplen, csum_ok=csum(tcp, csum(pseudo)) == 0xffff)


def capture_stats(path, check_csum):
    st = dict(frames=0, other=0, bad_csum=0, max_frame=0, dirs={})
    flows = {}
    for orig, fr in read_pcap(path):
        st['frames'] += 1
        st['max_frame'] = max(st['max_frame'], orig)
        p = parse(fr) if orig == len(fr) else None
        if p is None:
            st['other'] += 1
            continue
        if check_csum and not p['csum_ok']:
            st['bad_csum'] += 1
        key = '%s>%s' % (p['src'], p['dst'])
        d = st['dirs'].setdefault(key, dict(ZERO))
        flow = flows.setdefault((p['src'], p['sport'], p['dst'], p['dport']),
                                dict(end=None, last=None, seen=set(),
                                     ack=None))
        syn, fin = p['flags'] & 2, p['flags'] & 1
        if p['plen'] > 0:
            d['data'] += 1
            d['bytes'] += p['plen']
            d['ts'] += p['ts']
            d['max_ip'] = max(d['max_ip'], p['iplen'])
            start = p['seq']
            end = (start + p['plen']) & 0xffffffff
            if flow['end'] is not None:
                if ((end - flow['end']) & 0xffffffff) >= 0x80000000 or \
                        end == flow['end']:
                    if (start, end) in flow['seen']:
                        d['repeated'] += 1  # duplicate or retransmission
                    else:
                        d['late'] += 1      # reordered, or fills a loss
                elif start != flow['end'] and \
                        ((start - flow['end']) & 0xffffffff) < 0x80000000:
                    d['holes'] += 1         # skips data: loss/reorder
            flow['seen'].add((start, end))
            if flow['ack'] is not None and p['ack'] != flow['ack']:
                d['ack_moves'] += 1         # ACK differs from previous data
            flow['ack'] = p['ack']
            if flow['end'] is None or \
                    ((end - flow['end']) & 0xffffffff) < 0x80000000:
                flow['end'] = end
        else:
            if syn:
                flow['end'] = (p['seq'] + 1) & 0xffffffff
            elif not fin:
                d['acks'] += 1
                if flow['last'] == (p['ack'], p['win']):
                    d['dupacks'] += 1
            flow['last'] = (p['ack'], p['win'])
    return st


ZERO = dict(data=0, bytes=0, acks=0, ts=0, max_ip=0, late=0, repeated=0,
            holes=0, dupacks=0, ack_moves=0)


def stats(args):
    """stats NAME ROUTER.pcap RCV.pcap SND.pcap|- FWD_SRC FWD_DST TS LOSSY"""
    name, rtr, rcv, snd, fsrc, fdst, ts, lossy = args
    r = capture_stats(rtr, True)
    fwd, rev = '%s>%s' % (fsrc, fdst), '%s>%s' % (fdst, fsrc)
    z = ZERO
    rf, rr = r['dirs'].get(fwd, z), r['dirs'].get(rev, z)
    errs, retry = [], False
    gro = {}
    for key, cap in ((fwd, rcv), (rev, snd)):
        if cap == '-' or r['dirs'].get(key, z)['data'] == 0:
            continue
        g = capture_stats(cap, False)['dirs'].get(key, z)
        gro[key] = dict(segs=r['dirs'][key]['data'], pkts=g['data'],
                        max_ip=g['max_ip'])
        if g['bytes'] != r['dirs'][key]['bytes']:
            errs.append('%s: %d payload bytes at the router, %d after GRO: '
                        'a capture lost packets' %
                        (key, r['dirs'][key]['bytes'], g['bytes']))
        if g['max_ip'] <= 1500:
            errs.append('%s: no packet > MTU after GRO: GRO did not '
                        'coalesce on the veth (kernel < 5.13?)' % key)
    if r['bad_csum']:
        errs.append('%d frames with bad TCP checksums' % r['bad_csum'])
    if r['max_frame'] > 1514:
        errs.append('frame of %d bytes at the router (> MTU)' % r['max_frame'])
    if r['other']:
        errs.append('%d non-TCP frames' % r['other'])
    for key, d in r['dirs'].items():
        if d['data'] and d['ts'] != (d['data'] if ts == '1' else 0):
            errs.append('%s: %d of %d data segments with timestamps' %
                        (key, d['ts'], d['data']))
    if lossy == '1' and not (rf['late'] and rf['repeated'] and
                             rr['dupacks']):
        retry = True
        errs.append('no late or no repeated segment or no dup ACK: the '
                    'random impairments missed this run')
    if rr['data'] and min(rf['ack_moves'], rr['ack_moves']) < 10:
        retry = True
        errs.append('bidirectional, but only %d/%d data segments have an '
                    'ACK other than the previous one: the two directions '
                    'hardly overlapped' %
                    (rf['ack_moves'], rr['ack_moves']))
    res = dict(name=name, size=os.path.getsize(rtr), frames=r['frames'],
               fwd=rf, rev=rr, gro=gro, fwd_key=fwd, rev_key=rev)
    with open(rtr + '.json', 'w') as fh:
        json.dump(res, fh)
    for e in errs:
        print('make-traces.sh: %s: %s' % (name, e), file=sys.stderr)
    print('make-traces.sh: %s: %d frames, %d+%d data segments, GRO %s' %
          (name, r['frames'], rf['data'], rr['data'],
           ', '.join(ratio(g) for g in gro.values())), file=sys.stderr)
    return 0 if not errs else 2 if retry else 1


def ratio(g):
    return '%.1f (%d/%d)' % (g['segs'] / max(1, g['pkts']), g['segs'],
                             g['pkts'])


def readme(args):
    """readme OUT.md META.tsv: META has name, contents, recipe per line."""
    out, meta = args
    rows = []
    for line in open(meta):
        name, what, how, jpath = line.rstrip('\n').split('\t')
        r = json.load(open(jpath))
        f, v = r['fwd'], r['rev']
        segs = '%d' % f['data']
        rt = '%d / %d / %d' % (f['late'], f['repeated'], v['dupacks'])
        if v['data']:
            segs += ' + %d back (ACK changes: %d, %d)' % (
                v['data'], f['ack_moves'], v['ack_moves'])
            rt = '%d+%d / %d+%d / %d+%d' % (
                f['late'], v['late'], f['repeated'], v['repeated'],
                v['dupacks'], f['dupacks'])
        g = [ratio(r['gro'][k]) for k in (r['fwd_key'], r['rev_key'])
             if k in r['gro']]
        rows.append('| `%s` | %s | %d | %d | %s | %s | %s | %s |' % (
            name, what, r['size'], r['frames'], segs, rt, ', '.join(g), how))
    with open(out, 'w') as fh:
        fh.write(README_HEAD)
        fh.write('| File | Contents | Bytes | Frames | TCP data segments '
                 '| Late / repeated / dup ACKs | Linux GRO ratio '
                 '| Made with |\n')
        fh.write('|---|---|--:|--:|--:|--:|--:|---|\n')
        fh.write('\n'.join(rows) + '\n')
        fh.write(README_TAIL)


README_HEAD = '''\
<!-- SPDX-License-Identifier: GPL-2.0-or-later -->
<!-- Generated by make-traces.sh: edit that script, not this file. -->
# Recorded TCP traces

Small real TCP traces for testing the RSC coalescer, recorded by
`make-traces.sh` in three network namespaces, sender -- router --
receiver, joined by veth pairs (MTU 1500):

```
sudo tests/data/make-traces.sh        # rewrites *.pcap and this README
```

Each file is a classic pcap (not pcapng), linktype Ethernet, full
snaplen, captured with `tcpdump -i <router device toward the receiver>
-U -s 0 --immediate-mode -B 32768 tcp`: the MTU-sized frames a
virtio-net device on the receiver would get, plus, in the other
direction, what the receiver sent back (ACKs; data in the bidir trace).  All veth ends have
`ethtool -K DEV tx off tso off gso off gro off`, so every frame carries a
real, valid TCP checksum (checked) and no frame exceeds 1514 bytes; only
the receiver's device has `gro on`.  Only TCP frames are kept (no ARP/ND).
Made on Linux 6.18 (GRO on a veth needs >= 5.13, where `gro on` gives the
veth a NAPI instance; the lossy traces need the nftables egress hook,
>= 5.16).

Sender 10.77.1.1 / fd00:77:1::1, receiver 10.77.2.2 / fd00:77:2::2.
Each flow's sender binds a fixed port 6xxx and connects to the receiver's
port 5xxx.  Data is written in 64 KiB writes (8 KiB in the parallel and
bidir traces); the stream sent from local port P is a sequence of 32-bit
big-endian words, word k (stream offset 4k) = (P << 16) + k mod 2^32, so
the high half is the sending port and the low half the word index.  The
receiving end checks the stream.

The lossy traces: on the router, nftables drops a random 2% of the TCP
packets toward the receiver, duplicates 1% (`dup to`), and diverts 10%
(netdev egress hook, `fwd to`) into a delay line (a veth pair and a
python AF_PACKET loop) that sends them out 1 ms later, unchanged: they
arrive late, reordered.  (The kernel used has no sch_netem.)  Their last
late segments may arrive after the connection closed: the receiver
answers them with RST.

Columns: *TCP data segments*: frames with TCP payload > 0 from sender to
receiver (+ receiver to sender, where there is such data; then also how
many data segments, per direction, have an ACK number other than the
previous data segment's).
*Late*: data segments below the highest sequence seen, not seen before
(reordered, or a retransmission filling a loss); *repeated*: data
segments seen before (duplicates, spurious retransmissions); *dup ACKs*:
pure ACKs from the data receiver repeating the previous ACK and window.
*Linux GRO ratio*: data segments at the router / packets with payload
after GRO on the receiving veth (captured there in a temporary file), per
data direction; the reverse direction of the bidir trace was coalesced on
the sender's device, which has `gro on` for that trace only.

'''

README_TAIL = '''
Traces differ from run to run (timing, ACK pattern, random loss); the
script checks each one (checksums, frame sizes, timestamps present or
absent, the payload bytes at the router equal those after GRO, lossy
traces really have late and repeated segments and dup ACKs, the bidir
trace's data segments really carry ACKs, at most 400 KiB) and retries a
trace that misses only because of chance or timing.
'''


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    global CHUNK, GAP
    if cmd in ('serve', 'send'):    # WRITES: bytes:microseconds between
        CHUNK, GAP = (int(x) for x in args[4 + (cmd == 'send')].split(':'))
        GAP /= 1e6
    if cmd == 'serve':          # serve FAMILY PORTS SEND EXPECT WRITES READY
        errs = serve(args[0], [int(p) for p in args[1].split(',')],
                     int(args[2]), int(args[3]), args[5])
    elif cmd == 'send':         # send FAMILY DST LP:RP,... SEND EXPECT WRITES
        pairs = [tuple(int(x) for x in p.split(':'))
                 for p in args[2].split(',')]
        errs = client(args[0], args[1], pairs, int(args[3]), int(args[4]))
    elif cmd == 'delay':        # delay INDEV OUTDEV USEC MARK READYFILE
        delay(args[0], args[1], int(args[2]), int(args[3], 0), args[4])
    elif cmd == 'stats':
        sys.exit(stats(args))
    elif cmd == 'readme':
        sys.exit(readme(args))
    else:
        raise SystemExit('unknown command ' + cmd)
    for e in errs:
        print('make-traces.sh: %s' % e, file=sys.stderr)
    sys.exit(1 if errs else 0)


main()
PYEOF
PY=(python3 "$TMP/rsc.py")

# --- topology ----------------------------------------------------------------

# topo_up GRO_ON_SENDER: fresh namespaces for every trace, so no TCP metrics
# or neighbour state carries over from one trace to the next.
topo_up() {
    local ns
    for ns in "$NS_S" "$NS_R" "$NS_D"; do
        ip netns add "$ns"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
            net.ipv6.conf.all.accept_dad=0
        ip -n "$ns" link set lo up
    done
    ip link add snd0 netns "$NS_S" type veth peer name rtr0 netns "$NS_R"
    ip link add rtr1 netns "$NS_R" type veth peer name rcv0 netns "$NS_D"
    inR sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    ip -n "$NS_S" addr add $S4/24 dev snd0
    ip -n "$NS_S" addr add $S6/64 dev snd0 nodad
    ip -n "$NS_R" addr add $R4S/24 dev rtr0
    ip -n "$NS_R" addr add $R6S/64 dev rtr0 nodad
    ip -n "$NS_R" addr add $R4D/24 dev rtr1
    ip -n "$NS_R" addr add $R6D/64 dev rtr1 nodad
    ip -n "$NS_D" addr add $D4/24 dev rcv0
    ip -n "$NS_D" addr add $D6/64 dev rcv0 nodad
    inS ethtool -K snd0 tx off tso off gso off gro "$1" >/dev/null
    inR ethtool -K rtr0 tx off tso off gso off gro off >/dev/null
    inR ethtool -K rtr1 tx off tso off gso off gro off >/dev/null
    inD ethtool -K rcv0 tx off tso off gso off gro on >/dev/null
    ip -n "$NS_S" link set snd0 mtu $MTU up
    ip -n "$NS_R" link set rtr0 mtu $MTU up
    ip -n "$NS_R" link set rtr1 mtu $MTU up
    ip -n "$NS_D" link set rcv0 mtu $MTU up
    ip -n "$NS_S" route add default via $R4S
    ip -n "$NS_S" -6 route add default via $R6S
    ip -n "$NS_D" route add default via $R4D
    ip -n "$NS_D" -6 route add default via $R6D
}

topo_down() {
    local ns
    for ns in "$NS_S" "$NS_R" "$NS_D"; do
        ip netns del "$ns" 2>/dev/null || true
    done
}

# impair FAMILY: loss, duplication and reordering toward the receiver, all
# selected by nftables on the router ('numgen random'):
# - loss: a forward-chain rule drops a random 2% of the TCP packets;
# - duplication: a forward-chain rule duplicates 1% ('dup to', nf_dup);
# - reordering: a netdev egress-hook rule on rtr1 diverts 10% of the
#   frames ('fwd to') into a veth pair dly0/dly1, where the python delay
#   line holds each for 1 ms and sends it out of rtr1 again, with mark
#   0x52 so that the egress rule lets it through.  The frame is already
#   routed (TTL, MACs final), so it is bit-identical, just late.
# netem (loss/duplicate/reorder/delay in one qdisc) is not used: kernels
# without sch_netem (like the 6.18 these traces were made on) are common in
# VMs and containers, and one method on every kernel keeps traces alike.
LOSS=2 DUP=1 REORDER=10 DELAY_US=1000
impair() {
    local fam=ip dst=$D4 ns tcp='meta l4proto tcp numgen random mod 100'
    [ "$1" = 6 ] && fam=ip6 dst=$D6
    ip -n "$NS_R" link add dly0 type veth peer name dly1
    for ns in dly0 dly1; do
        inR sysctl -qw net.ipv6.conf.$ns.disable_ipv6=1
        inR ethtool -K $ns tx off tso off gso off gro off >/dev/null
        ip -n "$NS_R" link set $ns mtu $MTU up
    done
    inR nft -f - <<EOF || die "nft rules for the lossy traces failed"
table $fam rsc_impair {
    chain forward {
        type filter hook forward priority 0; policy accept;
        oifname "rtr1" $tcp < $LOSS counter drop
        oifname "rtr1" $tcp < $DUP counter dup to $dst device "rtr1"
    }
}
table netdev rsc_reorder {
    chain egress {
        type filter hook egress device "rtr1" priority 0; policy accept;
        meta mark 0x52 accept
        $tcp < $REORDER counter fwd to "dly0"
    }
}
EOF
    rm -f "$TMP/dly-ready"
    # (not through inR: a backgrounded function is a subshell, and its $!
    # would not be the process to kill)
    ip netns exec "$NS_R" timeout 120 \
        "${PY[@]}" delay dly1 rtr1 $DELAY_US 0x52 "$TMP/dly-ready" &
    DLY=$!
    PIDS+=("$DLY")
    wait_file "$TMP/dly-ready" || die "delay line did not start"
}

wait_file() {
    local _
    for _ in $(seq 100); do
        [ -e "$1" ] && return 0
        sleep 0.05
    done
    return 1
}

# start_cap NS DEV FILE: tcpdump in the background, returns when it listens
start_cap() {
    # -B: a 32 MiB buffer; with the default 2 MiB the capture after GRO
    # (up to 64 KiB packets) dropped packets
    ip netns exec "$1" tcpdump -i "$2" -w "$3" -U -s 0 --immediate-mode \
        -B 32768 tcp 2>"$3.err" &
    PIDS+=("$!")
    CAPS+=("$!:$3")
    local _
    for _ in $(seq 100); do
        grep -q 'listening on' "$3.err" 2>/dev/null && return 0
        sleep 0.05
    done
    cat "$3.err" >&2
    die "tcpdump on $2 did not start"
}

# stop_caps: SIGINT every capture, wait, check nothing was dropped
stop_caps() {
    local c pid f
    for c in "${CAPS[@]}"; do
        kill -INT "${c%%:*}"
    done
    for c in "${CAPS[@]}"; do
        pid=${c%%:*} f=${c#*:}
        wait "$pid" || die "tcpdump writing $f failed: $(cat "$f.err")"
        forget "$pid"
        grep -q '^0 packets dropped by kernel' "$f.err" ||
            die "tcpdump writing $f dropped packets: $(cat "$f.err")"
    done
    CAPS=()
}

# --- one trace ---------------------------------------------------------------

# trace NAME FAMILY TS LOSSY PORTS PAIRS SEND_C SEND_S WRITES WHAT
#   PORTS: receiver ports (comma-separated); PAIRS: sender LPORT:RPORT list;
#   SEND_C / SEND_S: bytes each sender / receiver connection sends, in
#   writes of WRITES=BYTES:MICROSECONDS (write size, pause between writes).
trace() {
    case ",${ONLY:-$1}," in *,$1,*) ;; *) return 0;; esac
    local name=$1 fam=$2 ts=$3 lossy=$4 ports=$5 pairs=$6 sc=$7 ss=$8
    local writes=$9 what=${10} f="$TMP/$1.pcap" src dst try rc how gro_s=off
    local srv counts nft_ok
    [ "$ss" -gt 0 ] && gro_s=on
    if [ "$fam" = 6 ]; then src=$S6 dst=$D6; else src=$S4 dst=$D4; fi
    for try in 1 2 3 4 5; do
        echo "make-traces.sh: recording $name (try $try)" >&2
        topo_up $gro_s
        CAPS=()
        inS sysctl -qw net.ipv4.tcp_timestamps="$ts"
        inD sysctl -qw net.ipv4.tcp_timestamps="$ts"
        DLY=
        if [ "$lossy" = 1 ]; then
            impair "$fam"
        fi
        rm -f "$f" "$TMP/rcv.pcap" "$TMP/snd.pcap" "$TMP/ready"
        ip netns exec "$NS_D" timeout 60 "${PY[@]}" \
            serve "$fam" "$ports" "$ss" "$sc" "$writes" "$TMP/ready" &
        srv=$!
        PIDS+=("$srv")
        wait_file "$TMP/ready" || die "$name: receiver did not start"
        start_cap "$NS_R" rtr1 "$f"
        start_cap "$NS_D" rcv0 "$TMP/rcv.pcap"
        [ "$ss" -gt 0 ] && start_cap "$NS_S" snd0 "$TMP/snd.pcap"
        inS timeout 60 "${PY[@]}" \
            send "$fam" "$dst" "$pairs" "$sc" "$ss" "$writes" ||
            die "$name: sender failed"
        wait "$srv" || die "$name: receiver failed"
        forget "$srv"
        sleep 0.5       # let the last ACKs and FINs through
        stop_caps
        nft_ok=1
        if [ -n "$DLY" ]; then
            # how many packets nftables dropped, duplicated, delayed
            counts=$(inR nft list ruleset | sed -n \
                "s/.*counter packets \([0-9]*\) .* \([a-z]*\) to .*/\2 \1/p
                 s/.*counter packets \([0-9]*\) .* drop$/drop \1/p" |
                tr '\n' ' ')
            echo "make-traces.sh: $name: nft: $counts" >&2
            case " $counts" in *" 0 "*) nft_ok=;; esac
            kill "$DLY"
            wait "$DLY" || true
            forget "$DLY"
        fi
        topo_down
        rc=0
        "${PY[@]}" stats "$name" "$f" "$TMP/rcv.pcap" \
            "$([ "$ss" -gt 0 ] && echo "$TMP/snd.pcap" || echo -)" \
            "$src" "$dst" "$ts" "$lossy" || rc=$?
        if [ $rc = 0 ] && [ -z "$nft_ok" ]; then
            echo "make-traces.sh: $name: an nft rule never fired" >&2
            rc=2
        fi
        [ $rc = 0 ] && break
        [ $rc = 2 ] && [ $try -lt 5 ] && continue
        die "$name: trace failed its checks"
    done
    [ "$(stat -c %s "$f")" -le $MAX_PCAP ] ||
        die "$name: $(stat -c %s "$f") bytes, more than $MAX_PCAP"
    how="IPv$fam, \`tcp_timestamps=$ts\`, writes of ${writes%:*} bytes"
    [ "${writes#*:}" != 0 ] && how+=" ${writes#*:} µs apart"
    [ "$ss" -gt 0 ] && how+=", sender's device \`gro on\` too"
    [ "$lossy" = 1 ] &&
        how+=", nft: drop $LOSS%, dup $DUP%, delay $REORDER% by $DELAY_US µs"
    echo -e "$name.pcap\t$what\t$how\t$f.json" >> "$TMP/meta.tsv"
}

K256=$((256 * KIB)) K128=$((128 * KIB)) K64=$((64 * KIB))
BULK=$K64:0             # 64 KiB writes, back to back
: > "$TMP/meta.tsv"
trace ipv4-ts 4 1 0 5001 6001:5001 $K256 0 $BULK \
    "IPv4, 1 bulk flow 6001→5001, 256 KiB, TCP timestamps"
trace ipv4-nots 4 0 0 5002 6002:5002 $K256 0 $BULK \
    "IPv4, 1 bulk flow 6002→5002, 256 KiB, no timestamps"
trace ipv6-ts 6 1 0 5003 6003:5003 $K256 0 $BULK \
    "IPv6, 1 bulk flow 6003→5003, 256 KiB, TCP timestamps"
trace ipv6-nots 6 0 0 5004 6004:5004 $K256 0 $BULK \
    "IPv6, 1 bulk flow 6004→5004, 256 KiB, no timestamps"
trace ipv4-lossy 4 1 1 5005 6005:5005 $K256 0 $BULK \
    "IPv4, 1 bulk flow 6005→5005, 256 KiB, timestamps, loss/dup/reorder"
trace ipv6-lossy 6 1 1 5006 6006:5006 $K256 0 $BULK \
    "IPv6, 1 bulk flow 6006→5006, 256 KiB, timestamps, loss/dup/reorder"
# parallel: 8 KiB writes, taking turns among the flows; with one 64 KiB
# write per flow each flow's segments would go out as one run, one flow
# after the other.
trace ipv4-parallel 4 1 0 5071,5072,5073,5074 \
    6071:5071,6072:5072,6073:5073,6074:5074 $K64 0 $((8 * KIB)):0 \
    "IPv4, 4 parallel bulk flows 607x→507x (x=1..4), 64 KiB each, timestamps"
# bidir: 8 KiB writes 1 ms apart.  Back-to-back writes let a side push its
# whole 128 KiB out in a millisecond or two, before the other side's process
# even wakes up (on the 2-core VM used), and all segments of one write carry
# the same ACK (peer data arriving meanwhile waits in the socket backlog):
# the directions would hardly overlap and few segments would carry new ACKs.
trace ipv4-bidir 4 1 0 5008 6008:5008 $K128 $K128 $((8 * KIB)):1000 \
    "IPv4, 1 connection 6008↔5008, 128 KiB each way at once, timestamps"

for f in "$TMP"/*.pcap; do
    case $f in */rcv.pcap|*/snd.pcap) continue;; esac
    cp "$f" "$OUT/"
done
if [ -n "${ONLY:-}" ]; then
    echo "make-traces.sh: ONLY set: README.md not rewritten" >&2
else
    "${PY[@]}" readme "$OUT/README.md" "$TMP/meta.tsv"
fi
echo "make-traces.sh: wrote $(cut -f1 "$TMP/meta.tsv" | tr '\n' ' ')to $OUT" >&2
