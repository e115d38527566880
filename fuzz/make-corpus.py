#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Write the seed corpus of fuzz-rsc (encoding: see fuzz/fuzz-rsc.c):
# slices of the recorded traces tests/data/*.pcap, fed at their capture
# times (with and without refusals, with few units), and hand-made edge
# cases.  Deterministic; rewrites fuzz/corpus/.
#
#   python3 fuzz/make-corpus.py [OUTDIR]

import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LEN = 65000         # below libFuzzer's -max_len=70000 in run.sh

OP_FRAME, OP_REFUSE, OP_RESUME, OP_POLL, OP_FLUSH, OP_PROTO, OP_PURGE, \
    OP_MIGRATE = range(8)
HDR_NULL, HDR_ZERO, HDR_DATA_VALID, HDR_PARTIAL, HDR_CSUM, HDR_GSO, \
    HDR_VALID_PARTIAL = range(7)
SEL_REPEAT, SEL_FIXLEN, SEL_FIXCSUM, SEL_PAD, SEL_COUNT = \
    0x08, 0x10, 0x20, 0x40, 0x80
CFG_GSO = 0x10
POLL_UNIT = 100
INTERVAL_UNIT = 10000

ACK, PSH, FIN, SYN, RST, URG, ECE, CWR = \
    0x10, 0x08, 0x01, 0x02, 0x04, 0x20, 0x40, 0x80


class Enc:
    """An input: configuration bytes, then records."""

    def __init__(self, flows=8, interval_us=300, seed=0, big_clock=False,
                 gso=False):
        interval = 255 if interval_us is None else \
            min(254, interval_us * 1000 // INTERVAL_UNIT)
        self.b = bytearray([(flows - 1) | (8 if big_clock else 0) |
                            (CFG_GSO if gso else 0), interval, seed])

    def frame(self, data, hdr=HDR_NULL, hdr_args=b'', fix=0, pad=None):
        sel = hdr | fix | (SEL_PAD if pad else 0)
        self.b += bytes([OP_FRAME, sel]) + hdr_args
        self.b += struct.pack('>H', len(data)) + data
        if pad:
            self.b += struct.pack('>HB', pad[0], pad[1])
        return self

    def repeat(self, n=1, patch=(0, 0), hdr=HDR_NULL, fix=SEL_FIXCSUM):
        for _ in range(n):
            self.b += bytes([OP_FRAME, hdr | SEL_REPEAT | fix])
            self.b += struct.pack('>HB', patch[0], patch[1])
        return self

    def repeat_count(self, n, hdr=HDR_NULL, fix=SEL_FIXCSUM):
        """One record: the previous frame n (1..256 or 65536) times."""
        assert 1 <= n <= 256 or n == 65536
        self.b += bytes([OP_FRAME, hdr | SEL_REPEAT | SEL_COUNT | fix])
        self.b += struct.pack('>HBB', 0, 0, 255 if n == 65536 else n - 1)
        return self

    def refuse(self, n):
        self.b += bytes([OP_REFUSE, n])
        return self

    def resume(self):
        self.b.append(OP_RESUME)
        return self

    def poll(self, ns=0):
        step = ns // POLL_UNIT
        while True:
            s = min(step, 0xffff)
            self.b += bytes([OP_POLL]) + struct.pack('>H', s)
            step -= s
            if step <= 0:
                return self

    def flush(self):
        self.b.append(OP_FLUSH)
        return self

    def protocols(self, v4, v6):
        self.b += bytes([OP_PROTO, (1 if v4 else 0) | (2 if v6 else 0)])
        return self

    def purge(self):
        self.b.append(OP_PURGE)
        return self

    def migrate(self):
        self.b.append(OP_MIGRATE)
        return self


def csum(data):
    if len(data) & 1:
        data += b'\0'
    s = sum(struct.unpack('>%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def tcp_frame(v=4, src=1, dst=2, sport=40000, dport=5201, seq=1000,
              ack=2000, flags=ACK, win=502, ts=None, opts=b'',
              payload=b'', tos=0, ttl=64, ip_id=1, frag=0x4000,
              ip_opts=b'', ext=b'', ext_nh=None, bad_tcp=False,
              bad_ip=False, partial=False, ip_len=None, eth=None,
              flow_label=0):
    """An Ethernet frame with a TCP segment and correct checksums."""
    if ts is not None:
        opts = b'\x01\x01\x08\x0a' + struct.pack('>II', *ts) + opts
    if len(opts) % 4:
        opts += b'\0' * (4 - len(opts) % 4)
    tcp = struct.pack('>HHIIBBHHH', sport, dport, seq & 0xffffffff, ack,
                      (5 + len(opts) // 4) << 4, flags, win, 0, 0)
    seg = tcp + opts + payload
    if v == 4:
        s = bytes([10, 0, 0, src])
        d = bytes([10, 0, 1, dst])
        pseudo = s + d + struct.pack('>BBH', 0, 6, len(seg))
        ihl = 5 + len(ip_opts) // 4
        tot = ihl * 4 + len(seg) if ip_len is None else ip_len
        ip = struct.pack('>BBHHHBBH4s4s', 0x40 | ihl, tos, tot, ip_id,
                         frag, ttl, 6, 0, s, d) + ip_opts
        c = 0xffff & ~csum(ip)
        if bad_ip:
            c ^= 0x0101
        ip = ip[:10] + struct.pack('>H', c) + ip[12:]
        etype = 0x0800
    else:
        s = bytes([0xfd, 0, 0, 0x77] + [0] * 11 + [src])
        d = bytes([0xfd, 0, 0, 0x78] + [0] * 11 + [dst])
        pseudo = s + d + struct.pack('>IxxxB', len(seg), 6)
        plen = len(ext) + len(seg) if ip_len is None else ip_len
        nh = 6 if not ext else ext_nh
        ip = struct.pack('>IHBB16s16s', (6 << 28) | (tos << 20) |
                         flow_label, plen, nh, ttl, s, d) + ext
        etype = 0x86dd
    c = csum(pseudo) if partial else 0xffff & ~csum(pseudo + seg)
    if bad_tcp:
        c ^= 0x0100
    seg = seg[:16] + struct.pack('>H', c) + seg[18:]
    if eth is None:
        eth = bytes([0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1])
    return eth + struct.pack('>H', etype) + ip + seg


def pattern(seq, n):
    return bytes(((seq + i) * 7 + 3) & 0xff for i in range(n))


def stream(v=4, n=10, mss=1448, seq=1000, ts=True, flow=0, **kw):
    """n in-order data segments of one flow."""
    out = []
    for i in range(n):
        s = seq + i * mss
        out.append(tcp_frame(v=v, sport=40000 + flow, seq=s,
                             ts=(100 + i, 50) if ts else None,
                             payload=pattern(s, mss), **kw))
    return out


def read_pcap(path):
    with open(path, 'rb') as f:
        data = f.read()
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        e = '<'
    else:
        e = '>'
    nsec = magic in (b'\x4d\x3c\xb2\xa1', b'\xa1\xb2\x3c\x4d')
    off = 24
    frames = []
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(e + 'IIII', data[off:off + 16])
        off += 16
        t = sec * 10**9 + (frac if nsec else frac * 1000)
        frames.append((t, data[off:off + incl]))
        off += incl
    return frames


def trace_input(frames, enc, refuse_every=0):
    """Feed frames at their capture times, polling in between."""
    t0 = frames[0][0]
    for i, (t, data) in enumerate(frames):
        if t > t0:
            enc.poll(t - t0)
        t0 = t
        if refuse_every and i % refuse_every == refuse_every - 1:
            enc.refuse(1 + i % 3)
        enc.frame(data)
        if refuse_every and i % refuse_every == 1:
            enc.resume()
    return enc


def trace_slice(frames, start):
    out, size = [], 16
    for t, d in frames[start:]:
        if size + len(d) + 8 > MAX_LEN:
            break
        out.append((t, d))
        size += len(d) + 8
    return out


def trace_seeds():
    seeds = {}
    data = os.path.join(ROOT, 'tests', 'data')
    for name in sorted(os.listdir(data)):
        if not name.endswith('.pcap'):
            continue
        base = name[:-5]
        frames = read_pcap(os.path.join(data, name))
        a = trace_slice(frames, 0)
        seeds['trace-%s-start' % base] = trace_input(a, Enc(8, 300))
        seeds['gso-trace-%s-start' % base] = \
            trace_input(a, Enc(8, 300, gso=True))
        mid = len(frames) // 2
        b = trace_slice(frames, mid)
        flows = 1 if 'parallel' in base or 'bidir' in base else 2
        seeds['trace-%s-mid-refuse' % base] = \
            trace_input(b, Enc(flows, 50, seed=7), refuse_every=5)
    return seeds


def edge_seeds():
    s = {}

    e = Enc(8, 300)
    for f in stream(4, 12):
        e.frame(f)
    s['v4-inorder'] = e.flush()

    e = Enc(8, 300)
    for f in stream(6, 12):
        e.frame(f)
    s['v6-inorder'] = e.flush()

    # refusals in the middle of a stream, and while stalled
    e = Enc(4, 300)
    fr = stream(4, 16, ts=False)
    for i, f in enumerate(fr):
        if i in (3, 9):
            e.refuse(2)
        e.frame(f)
        if i in (5, 13):
            e.resume()
        if i == 7:
            e.poll(400000)
    s['refuse-midstream'] = e.resume().flush()

    # a refused flush, then a PSH segment that closes a unit while stalled
    e = Enc(2, 300)
    fr = stream(4, 6)
    for f in fr[:4]:
        e.frame(f)
    e.refuse(3).flush()
    e.frame(fr[4])
    e.resume().resume()
    e.frame(tcp_frame(seq=1000 + 5 * 1448, flags=ACK | PSH, ts=(200, 50),
                      payload=pattern(1000 + 5 * 1448, 100)))
    s['refuse-flush-psh'] = e.resume()

    # eviction with a single unit: two interleaved flows
    e = Enc(1, 300)
    a, b = stream(4, 8, flow=0), stream(4, 8, flow=1)
    for x, y in zip(a, b):
        e.frame(x).frame(y)
    s['evict-1flow'] = e

    # eviction with 2 units, 5 flows, IPv4 and IPv6, refusals
    e = Enc(2, 100, seed=0x33)
    st = [stream(4 if k % 2 else 6, 4, flow=k, mss=500) for k in range(5)]
    for i in range(4):
        for k in range(5):
            if k == 3 and i == 1:
                e.refuse(1)
            e.frame(st[k][i])
            if k == 4:
                e.resume()
    s['evict-2flows-mixed'] = e

    # short segments with Ethernet padding (60-byte minimum frames)
    e = Enc(8, 300)
    seq = 5000
    for n in (1, 2, 3, 5, 6, 1):
        f = tcp_frame(seq=seq, payload=pattern(seq, n))
        e.frame(f, pad=(max(0, 60 - len(f)), 0xa5))
        seq += n
    f = tcp_frame(v=6, seq=seq, payload=pattern(seq, 3))
    e.frame(f, pad=(20, 0))
    s['padding'] = e.flush()

    # a frame larger than a unit's buffer (padding beyond 65549 bytes)
    e = Enc(1, 300)
    f = tcp_frame(seq=7000, payload=pattern(7000, 1000))
    e.frame(f, pad=(65535, 0x11))
    e.frame(tcp_frame(seq=8000, payload=pattern(8000, 1000)))
    e.frame(tcp_frame(seq=9000, payload=pattern(9000, 1000)), pad=(60000, 1))
    s['huge-padding'] = e

    # IPv6 extension headers: hop-by-hop, dstopts, fragments, routing
    e = Enc(8, 300)
    hop = bytes([6, 0, 1, 4, 0, 0, 0, 0])
    dst = bytes([6, 1]) + bytes(14)
    frag0 = bytes([6, 0, 0, 1, 0, 0, 0, 9])       # offset 0, M
    frag1 = bytes([6, 0, 0, 0x10, 0, 0, 0, 9])    # offset 2
    rt = bytes([0, 0, 0, 0, 0, 0, 0, 0])          # routing, then hop
    e.frame(tcp_frame(v=6, seq=100, payload=pattern(100, 500)))
    e.frame(tcp_frame(v=6, seq=600, payload=pattern(600, 500), ext=hop,
                      ext_nh=0))
    e.frame(tcp_frame(v=6, seq=1100, payload=pattern(1100, 500)))
    e.frame(tcp_frame(v=6, seq=1600, payload=pattern(1600, 500), ext=dst,
                      ext_nh=60))
    e.frame(tcp_frame(v=6, seq=2100, payload=pattern(2100, 500), ext=frag0,
                      ext_nh=44))
    e.frame(tcp_frame(v=6, seq=2600, payload=pattern(2600, 500), ext=frag1,
                      ext_nh=44))
    e.frame(tcp_frame(v=6, seq=3100, payload=pattern(3100, 500),
                      ext=rt + hop, ext_nh=43))
    e.frame(tcp_frame(v=6, seq=3600, payload=pattern(3600, 500)))
    e.frame(tcp_frame(v=6, seq=4100, payload=pattern(4100, 500), ext=bytes(
        [0, 0] + [1, 4, 0, 0, 0, 0]) * 8 + hop, ext_nh=0))
    s['v6-ext-headers'] = e.flush()

    # large TCP packets the backend made (a GSO type in its header): in
    # RSC_EXT mode alone with RSC_INFO and their segment count, after the
    # unit they close; in GSO mode as given.  ECN bit, gso_size 0, a UDP
    # type, a VLAN tag, QinQ, an extension header, padding, IP length 0,
    # a refusal
    for gso in (False, True):
        e = Enc(8, 300, gso=gso)
        seq = 100
        qinq = bytes([0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1,
                      0x88, 0xa8, 0, 7, 0x81, 0, 0, 5])
        vlan = qinq[:12] + qinq[16:]
        for v, gtype, gsize, n, kw, pad in (
                (4, 1, 1448, 4000, {}, None),
                (6, 4, 1000, 4000, {}, None),
                (4, 0x81, 1448, 2896, {}, None),
                (6, 0x84, 0, 3000, {}, None),
                (4, 3, 1448, 3000, {}, None),
                (4, 1, 1448, 3000, {'eth': vlan}, None),
                (6, 4, 1448, 3000, {'eth': qinq}, None),
                (6, 4, 512, 3000, {'ext': bytes([6, 0, 1, 4, 0, 0, 0, 0]),
                                   'ext_nh': 0}, None),
                (4, 1, 1000, 2000, {}, (40, 0xee)),
                (4, 1, 1000, 2000, {'ip_len': 0}, None),
                (6, 4, 1000, 2000, {'ip_len': 0}, None)):
            e.frame(tcp_frame(v=v, seq=seq, payload=pattern(seq, 700)))
            seq += 700
            e.frame(tcp_frame(v=v, seq=seq, payload=pattern(seq, 700)))
            seq += 700
            e.frame(tcp_frame(v=v, seq=seq, payload=pattern(seq, n),
                              partial=True, **kw), HDR_GSO,
                    struct.pack('>BHB', gtype, gsize, 1), pad=pad)
            seq += n
        e.refuse(1)
        e.frame(tcp_frame(v=4, seq=seq, payload=pattern(seq, 700)))
        e.frame(tcp_frame(v=4, seq=seq + 700, payload=pattern(seq + 700,
                                                               4000),
                          partial=True), HDR_GSO,
                struct.pack('>BHB', 1, 1448, 1))
        e.resume().refuse(2).frame(tcp_frame(
            v=6, seq=seq, payload=pattern(seq, 4000), partial=True),
            HDR_GSO, struct.pack('>BHB', 4, 1448, 1)).resume()
        s['gso-backend' + ('-gso-mode' if gso else '')] = e.flush()

    # truncated and malformed frames between segments of a flow
    e = Enc(4, 300)
    fr = stream(4, 6, mss=700)
    good = fr[0]
    e.frame(fr[0])
    e.frame(good[:10])                               # shorter than Ethernet
    e.frame(good[:30])                               # truncated IPv4 header
    e.frame(fr[1][:len(fr[1]) - 100])                # IP length > frame
    e.frame(fr[1])
    e.frame(tcp_frame(seq=2400, payload=pattern(2400, 10), ip_len=30))
    e.frame(fr[2][:14 + 20 + 10])                    # truncated TCP header
    bad = bytearray(fr[3])
    bad[14 + 20 + 12] = 0x30                         # data offset 12
    e.frame(bytes(bad))
    e.frame(fr[3])
    e.frame(bytes(fr[4][:12]) + b'\x81\x00\x00\x05' + fr[4][12:])  # VLAN
    e.frame(bytes(60))                               # all zero
    e.frame(fr[4]).frame(fr[5])
    s['truncated-malformed'] = e.flush()

    # dup ACKs and window updates: pure ACKs of the data sender's flow
    e = Enc(8, 300)
    seq = 10000
    e.frame(tcp_frame(seq=seq, payload=pattern(seq, 1000)))
    seq += 1000
    e.frame(tcp_frame(seq=seq, payload=pattern(seq, 1000)))
    seq += 1000
    e.frame(tcp_frame(seq=seq))                      # dup ack: closes
    e.frame(tcp_frame(seq=seq))                      # no unit: bypass
    e.frame(tcp_frame(seq=seq, payload=pattern(seq, 1000)))
    seq += 1000
    e.frame(tcp_frame(seq=seq, win=600))             # window update
    e.frame(tcp_frame(seq=seq, win=600))             # dup ack: closes
    e.frame(tcp_frame(seq=seq, ack=2100))            # new ack: finalize
    e.frame(tcp_frame(seq=seq, ack=2100, payload=pattern(seq, 1000)))
    e.frame(tcp_frame(seq=seq + 1000, ack=2100, win=700))
    e.frame(tcp_frame(seq=seq + 1000, ack=2100, payload=pattern(seq + 1000,
                                                                 800)))
    e.frame(tcp_frame(seq=seq + 1800, ack=2100, flags=ACK | PSH))
    s['dupacks-window'] = e.flush()

    # a duplicate ACK refused with its unit, or after it, or then purged:
    # fed again, it goes out alone as decided (counted once), or as new
    for name, refuse, purge in (('unit', 1, False), ('ack', 2, False),
                                ('purge', 1, True)):
        e = Enc(8, 300)
        seq = 5000
        for _ in range(2):
            e.frame(tcp_frame(seq=seq, payload=pattern(seq, 1000)))
            seq += 1000
        e.refuse(refuse).frame(tcp_frame(seq=seq))
        if purge:
            e.purge()
        e.resume()
        e.frame(tcp_frame(seq=seq, payload=pattern(seq, 1000)))
        e.frame(tcp_frame(seq=seq + 1000))
        s['dupack-refused-' + name] = e.flush()

    # identical pure ACKs (REPEAT of a frame without payload)
    e = Enc(2, 300)
    e.frame(tcp_frame(v=6, seq=1, payload=pattern(1, 300)))
    e.frame(tcp_frame(v=6, seq=301))
    e.repeat(5)
    e.frame(tcp_frame(v=6, seq=301, win=900))
    e.repeat(3).poll(3000000)
    e.frame(tcp_frame(v=6, seq=301, payload=pattern(301, 300)))
    e.frame(tcp_frame(v=6, seq=601, flags=ACK | PSH))
    s['identical-acks'] = e

    # PSH, FIN, SYN, RST, URG, ECE, CWR, ECN change, TOS change, options
    e = Enc(8, 300)
    seq = 1
    for kw in ({}, {'flags': ACK | PSH}, {}, {'flags': ACK | FIN}, {},
               {'flags': ACK | URG}, {}, {'flags': ACK | ECE}, {},
               {'flags': ACK | CWR}, {}, {'tos': 1}, {'tos': 1},
               {'tos': 3}, {'tos': 0x20}, {}, {'opts': b'\x02\x04\x05\xb4'},
               {}, {'flags': RST}, {'flags': SYN | ACK}, {}, {'ttl': 3},
               {'ttl': 200}, {'ip_id': 77}, {'frag': 0}, {'frag': 0x2000},
               {'ip_opts': b'\x01\x01\x01\x00'}, {}, {'flags': 0}, {}):
        e.frame(tcp_frame(seq=seq, payload=pattern(seq, 200), **kw))
        seq += 200
    s['v4-exceptions'] = e.flush()

    e = Enc(8, 300)
    seq = 1
    for kw in ({}, {}, {'tos': 1}, {'tos': 1}, {'flow_label': 5}, {},
               {'flags': ACK | PSH}, {}, {'ttl': 1}, {}):
        e.frame(tcp_frame(v=6, seq=seq, payload=pattern(seq, 300), **kw))
        seq += 300
    s['v6-exceptions'] = e.flush()

    # ECN runs, as DCTCP marks them: ECT(0) x2, CE x2, ECT(0); then a CE
    # pure ACK and a CE segment with a bad checksum (both alone); in
    # RSC_EXT and GSO mode, and with the closed unit refused once
    for v in (4, 6):
        for gso in (False, True):
            for refuse in (0, 1):
                e = Enc(2, 300, gso=gso)
                seq = 1
                for tos in (2, 2, 3, 3, 2, 2):
                    if refuse and tos == 3 and seq == 2897:
                        e.refuse(refuse)
                    e.frame(tcp_frame(v=v, seq=seq, tos=tos, ts=(seq, 9),
                                      payload=pattern(seq, 1448)))
                    if refuse and tos == 3 and seq == 2897:
                        e.resume()
                    seq += 1448
                e.frame(tcp_frame(v=v, seq=seq, tos=3, win=600,
                                  ts=(seq, 9)))
                e.frame(tcp_frame(v=v, seq=seq, tos=2, ts=(seq, 9),
                                  payload=pattern(seq, 1448)))
                e.frame(tcp_frame(v=v, seq=seq + 1448, tos=3, bad_tcp=True,
                                  ts=(seq, 9),
                                  payload=pattern(seq + 1448, 1448)))
                s['ecn-runs-v%d%s%s' % (v, '-gso' if gso else '',
                                        '-refused' if refuse else '')] = \
                    e.flush()

    # checksums: bad TCP vouched for by DATA_VALID, partial with
    # NEEDS_CSUM, wrong csum_start, bad IPv4 header checksum, GSO header
    e = Enc(8, 300)
    seq = 1
    for kw, hdr, args in (
            ({}, HDR_NULL, b''),
            ({'bad_tcp': True}, HDR_DATA_VALID, b''),
            ({'partial': True}, HDR_PARTIAL, b''),
            ({'partial': True}, HDR_CSUM, struct.pack('>HH', 34, 16)),
            ({'partial': True}, HDR_CSUM, struct.pack('>HH', 34, 6)),
            ({}, HDR_ZERO, b''),
            ({'bad_tcp': True}, HDR_NULL, b''),
            ({}, HDR_NULL, b''),
            ({'bad_ip': True}, HDR_DATA_VALID, b''),
            ({}, HDR_VALID_PARTIAL, b''),
            ({}, HDR_GSO, struct.pack('>BHB', 1, 1448, 1)),
            ({}, HDR_GSO, struct.pack('>BHB', 0, 0, 2)),
            ({}, HDR_NULL, b'')):
        e.frame(tcp_frame(seq=seq, payload=pattern(seq, 400), **kw), hdr,
                args)
        seq += 400
    s['checksums-headers'] = e.flush()

    # the IP datagram limit: 1 explicit segment + REPEATs past 65535 bytes
    for v in (4, 6):
        e = Enc(1, None)
        e.frame(tcp_frame(v=v, seq=0xfffff000, ts=(1, 2),
                          payload=pattern(0, 1448)))
        e.repeat(20).repeat_count(30)
        s['size-limit-v%d-seqwrap' % v] = e.flush()

    # tiny segments built by REPEAT with FIXLEN: many segments in a unit
    e = Enc(2, 2000)
    e.frame(tcp_frame(seq=77, payload=b'x'), fix=SEL_FIXCSUM)
    e.repeat(44).repeat_count(256)
    s['tiny-segments'] = e.poll(3000000)

    # 65537 duplicate ACKs: the first closes the unit, the rest meet none
    # (the header's 16-bit count once limited a unit) ...
    e = Enc(1, None)
    e.frame(tcp_frame(seq=1, payload=pattern(1, 100)))
    e.frame(tcp_frame(seq=101)).repeat_count(65536)
    s['dupack-cap'] = e.flush()
    # ... and 65536 one-byte segments (the IPv4 datagram limit)
    e = Enc(1, None)
    e.frame(tcp_frame(seq=101, ack=3000, payload=b'x'))
    e.repeat_count(65536, fix=SEL_FIXCSUM | SEL_FIXLEN)
    s['size-limit-1byte-segments'] = e.flush()

    # timestamps going backwards, ACKs going backwards
    e = Enc(8, 300)
    e.frame(tcp_frame(seq=1, ts=(100, 1), payload=pattern(1, 100)))
    e.frame(tcp_frame(seq=101, ts=(101, 1), payload=pattern(101, 100)))
    e.frame(tcp_frame(seq=201, ts=(99, 1), payload=pattern(201, 100)))
    e.frame(tcp_frame(seq=301, ts=(102, 1), payload=pattern(301, 100),
                      ack=1999))
    e.frame(tcp_frame(seq=401, ts=(103, 1), payload=pattern(401, 100)))
    e.frame(tcp_frame(seq=301, ts=(104, 1), payload=pattern(301, 100)))
    e.frame(tcp_frame(seq=601, ts=(105, 1), payload=pattern(601, 100)))
    s['ts-ack-backwards'] = e.flush()

    # timer: poll before and after the interval, interval 0, huge clock
    e = Enc(4, 100)
    fr = stream(4, 6, mss=300)
    e.frame(fr[0]).frame(fr[1]).poll(99900).frame(fr[2]).poll(100)
    e.frame(fr[3]).poll(50000).frame(fr[4]).poll(60000).frame(fr[5])
    s['timer'] = e.poll(1000000)
    e = Enc(3, 0)
    for f in stream(6, 5, mss=300):
        e.frame(f).poll(0)
    s['interval-0'] = e
    e = Enc(3, None, big_clock=True)
    for f in stream(4, 5, mss=300):
        e.frame(f).poll(6000000)
    s['interval-max-clock-max'] = e.poll(6553500).poll(6553500)

    # protocols switched off and on with units open, and a purge
    e = Enc(8, 300)
    a, b = stream(4, 6, mss=400), stream(6, 6, mss=400, flow=3)
    e.frame(a[0]).frame(b[0]).frame(a[1]).frame(b[1])
    e.protocols(False, True).frame(a[2]).frame(b[2])
    e.refuse(1).protocols(True, False).frame(a[3]).frame(b[3]).resume()
    e.protocols(True, True).frame(a[4]).frame(b[4])
    e.purge().frame(a[5]).frame(b[5])
    s['protocols-purge'] = e

    # non-TCP: ARP, UDP, ICMPv6
    e = Enc(8, 300)
    arp = bytes([0xff] * 6 + [0x52, 0x54, 0, 0, 0, 1, 8, 6]) + bytes(46)
    fr = stream(4, 3, mss=500)
    udp = bytearray(fr[1])
    udp[14 + 9] = 17
    icmp6 = bytearray(tcp_frame(v=6, seq=5))
    icmp6[14 + 6] = 58
    e.frame(fr[0]).frame(arp).frame(bytes(udp)).frame(fr[1])
    e.frame(bytes(icmp6)).frame(fr[2])
    s['non-tcp'] = e.flush()

    return s


def gso_stream(v=4, n=8, at=None, **change):
    """A bulk flow as GSO mode merges it: one ACK, window and timestamp,
    the IPv4 ID counting up; segments from @at on get @change."""
    out, seq = [], 1000
    for i in range(n):
        kw = dict(ts=(100, 50), ip_id=1 + i, payload=pattern(seq, 1448))
        if at is not None and i >= at:
            kw.update(change)
            if 'payload_len' in kw:
                kw['payload'] = pattern(seq, kw.pop('payload_len'))
        out.append(tcp_frame(v=v, seq=seq, **kw))
        seq += len(kw['payload'])
    return out


def gso_seeds():
    """GSO mode (rx_coalesce): each rule that keeps a segment out"""
    s = {}
    cases = {
        'same-v4': (4, None, {}),
        'same-v6': (6, None, {}),
        'ack': (4, 3, {'ack': 2500}),
        'window': (6, 3, {'win': 600}),
        'tsval': (4, 3, {'ts': (101, 50)}),
        'ttl': (6, 3, {'ttl': 63}),
        'tos': (4, 3, {'tos': 3}),
        'flow-label': (6, 3, {'flow_label': 5}),
        'ip-id': (4, 3, {'ip_id': 77}),
        'options': (4, 3, {'ts': None}),
        'short': (4, 3, {'payload_len': 700}),
        'psh': (6, 3, {'flags': ACK | PSH}),
        'fin': (4, 7, {'flags': ACK | FIN}),
        'dup-ack': (4, 4, {'payload_len': 0}),
    }
    for name, (v, at, change) in sorted(cases.items()):
        e = Enc(4, 300, gso=True)
        for i, f in enumerate(gso_stream(v, 8, at, **change)):
            if name == 'psh' and i == 3:
                e.refuse(1)
            e.frame(f)
            if name == 'psh' and i == 5:
                e.resume()
        s['gso-' + name] = e.resume().poll(400000).flush()
    # the guest switches the offload off while a GSO packet waits for room
    for v in (4, 6):
        e = Enc(4, 300, gso=True).refuse(50)
        for f in gso_stream(v, 8, 7, flags=ACK | PSH):
            e.frame(f)
        e.protocols(False, False).refuse(0)
        s['gso-cut-v%d' % v] = e.resume().poll(400000).flush()
    return s


def migrate_seeds():
    """Packets held for lack of guest buffers given to a fresh engine, as
    virtio-net's migration does"""
    s = {}
    # coalesced units of two flows, refused, then migrated (twice)
    for v in (4, 6):
        e = Enc(4, 300).refuse(50)
        a, b = stream(v, 6, flow=0), stream(v, 6, flow=1)
        for fa, fb in zip(a, b):
            e.frame(fa).frame(fb)
        e.flush().migrate().migrate().refuse(0)
        s['migrate-held-v%d' % v] = e.resume().poll(400000).flush()
    # open units: migration seals them without delivering
    e = Enc(8, 300)
    for f in stream(4, 5, flow=0) + stream(6, 5, flow=2):
        e.frame(f)
    s['migrate-open'] = e.migrate().resume().poll(400000).flush()
    # a FIN refused after its flow's unit: the unit migrates, the FIN is
    # fed again on the new engine
    e = Enc(2, 300)
    fr = stream(4, 4)
    for f in fr:
        e.frame(f)
    fin = tcp_frame(v=4, seq=1000 + 4 * 1448, ts=(104, 50),
                    flags=ACK | FIN, payload=pattern(1000 + 4 * 1448, 100))
    e.refuse(1).frame(fin).migrate()
    s['migrate-finalizer'] = e.resume().poll(400000).flush()
    # GSO packets held, migrated, then the offload is switched off: the
    # new engine delivers them as the segments they were made of
    for v in (4, 6):
        e = Enc(4, 300, gso=True).refuse(50)
        for f in gso_stream(v, 8, 7, flags=ACK | PSH):
            e.frame(f)
        e.flush().migrate().protocols(False, False).refuse(2)
        s['migrate-gso-cut-v%d' % v] = e.resume().refuse(0).resume() \
            .poll(400000).flush()
    # nothing held: a migration changes nothing
    e = Enc(4, 300).migrate()
    for f in stream(4, 4):
        e.frame(f)
    s['migrate-empty'] = e.migrate().poll(400000).flush()
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'fuzz',
                                                             'corpus')
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        os.unlink(os.path.join(out, name))
    seeds = {}
    seeds.update(trace_seeds())
    seeds.update(edge_seeds())
    seeds.update(gso_seeds())
    seeds.update(migrate_seeds())
    total = 0
    for name, enc in sorted(seeds.items()):
        with open(os.path.join(out, name), 'wb') as f:
            f.write(enc.b)
        total += len(enc.b)
    print('%d seeds, %d bytes in %s' % (len(seeds), total, out))


if __name__ == '__main__':
    main()
