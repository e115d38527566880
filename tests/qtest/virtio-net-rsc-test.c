/*
 * QTest testcase for virtio-net receive segment coalescing (RSC)
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A fake guest posts receive buffers, the test injects Ethernet frames
 * through a socket netdev and steps the virtual clock, and checks what the
 * guest receives byte for byte and header field by field.
 */

#include "qemu/osdep.h"
#include "libqtest-single.h"
#include "qemu/bswap.h"
#include "qemu/iov.h"
#include "qemu/module.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "standard-headers/linux/virtio_net.h"
#include "standard-headers/linux/virtio_pci.h"
#include "standard-headers/linux/virtio_ring.h"
#include "libqos/qgraph.h"
#include "libqos/virtio-net.h"

#ifdef CONFIG_LINUX
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#endif

#define RX_TIMEOUT_US   (30 * 1000 * 1000)
#define GUEST_HDR_LEN   12      /* virtio_net_hdr_mrg_rxbuf, virtio 1.0 */
#define MRG_BUF_SIZE    4096
#define BIG_BUF_SIZE    (GUEST_HDR_LEN + 14 + 65535 + 16)
#define INTERVAL_NS     300000
#define MSS             1448
#define ETH_P_MARKER    0x88b5  /* IEEE local experimental: never TCP */

#define F_FIN   0x01
#define F_SYN   0x02
#define F_PSH   0x08
#define F_ACK   0x10

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

#ifndef _WIN32

/* Frame builder */

typedef struct Seg {
    bool ipv6;
    uint16_t sport;
    uint32_t seq;
    uint32_t ack;
    uint16_t win;
    uint8_t flags;
    bool ts;
    uint32_t tsval;
    uint32_t tsecr;
    uint16_t ip_id;
    uint8_t ttl;
    uint32_t stream_off;    /* payload byte i is pattern(stream_off + i) */
    uint32_t len;
} Seg;

static uint8_t pattern(uint32_t off)
{
    return (off * 31 + (off >> 8) + 7) & 0xff;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i + 1 < n; i += 2) {
        sum += (p[i] << 8) | p[i + 1];
    }
    if (n & 1) {
        sum += p[n - 1] << 8;
    }
    return sum;
}

static uint16_t csum_finish(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static uint16_t get16(const uint8_t *p)
{
    return (p[0] << 8) | p[1];
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)get16(p) << 16) | get16(p + 2);
}

/* Build an Ethernet + IPv4/IPv6 + TCP frame with valid checksums */
static size_t build_frame(uint8_t *f, const Seg *s)
{
    size_t l3 = 14, iphl = s->ipv6 ? 40 : 20, l4 = l3 + iphl;
    size_t thl = s->ts ? 32 : 20, data = l4 + thl, i;
    uint8_t *ip = f + l3, *tcp = f + l4;
    uint32_t sum;

    memcpy(f, guest_mac, 6);
    memcpy(f + 6, peer_mac, 6);
    put16(f + 12, s->ipv6 ? 0x86dd : 0x0800);
    memset(ip, 0, iphl + thl);
    if (s->ipv6) {
        ip[0] = 0x60;
        put16(ip + 4, thl + s->len);
        ip[6] = 6;
        ip[7] = s->ttl ? s->ttl : 64;
        ip[8] = 0xfd;
        ip[23] = 1;
        ip[24] = 0xfd;
        ip[39] = 2;
    } else {
        ip[0] = 0x45;
        put16(ip + 2, iphl + thl + s->len);
        put16(ip + 4, s->ip_id);
        ip[6] = 0x40;
        ip[8] = s->ttl ? s->ttl : 64;
        ip[9] = 6;
        put32(ip + 12, 0x0a000001);
        put32(ip + 16, 0x0a000002);
        put16(ip + 10, csum_finish(csum_add(0, ip, 20)));
    }
    put16(tcp, s->sport ? s->sport : 5001);
    put16(tcp + 2, 40000);
    put32(tcp + 4, s->seq);
    put32(tcp + 8, s->ack);
    tcp[12] = (thl / 4) << 4;
    tcp[13] = s->flags ? s->flags : F_ACK;
    put16(tcp + 14, s->win ? s->win : 512);
    if (s->ts) {
        tcp[20] = 1;
        tcp[21] = 1;
        tcp[22] = 8;
        tcp[23] = 10;
        put32(tcp + 24, s->tsval);
        put32(tcp + 28, s->tsecr);
    }
    for (i = 0; i < s->len; i++) {
        f[data + i] = pattern(s->stream_off + i);
    }
    if (s->ipv6) {
        sum = csum_add(0, ip + 8, 32);
    } else {
        sum = csum_add(0, ip + 12, 8);
    }
    sum += 6 + thl + s->len;
    sum = csum_add(sum, tcp, thl + s->len);
    put16(tcp + 16, csum_finish(sum));
    return data + s->len;
}

/* Fake guest: a receive queue with its own descriptors and buffers */

typedef struct Guest {
    QTestState *qts;
    QVirtioDevice *dev;
    QVirtQueue *vq;
    int sock;
    bool raw;           /* sock is an AF_PACKET socket on a tap interface */
    bool vnet_hdr;      /* ... with PACKET_VNET_HDR: frames need a header */
    int64_t release_ns; /* a filter-buffer holds frames this long, or 0 */
    uint64_t mem;
    uint32_t nbufs;
    uint32_t buf_size;
    uint16_t avail_idx;
    uint16_t used_idx;
} Guest;

typedef struct Pkt {
    struct virtio_net_hdr_v1 hdr;   /* host byte order */
    uint16_t num_buffers;
    uint8_t *data;
    size_t len;
} Pkt;

/* @nbufs buffers of @buf_size bytes, reused in ring order */
static void guest_init(Guest *g, QVirtioNet *net, int sock,
                       QGuestAllocator *alloc, uint32_t nbufs,
                       uint32_t buf_size)
{
    g->qts = global_qtest;
    g->dev = net->vdev;
    g->vq = net->queues[0];
    g->sock = sock;
    g->raw = false;
    g->vnet_hdr = false;
    g->release_ns = 0;
    g->nbufs = nbufs;
    g->buf_size = buf_size;
    g->mem = guest_alloc(alloc, (uint64_t)nbufs * buf_size);
    g->avail_idx = qtest_readw(g->qts, g->vq->avail + 2);
    g->used_idx = g->vq->last_used_idx;
}

static uint64_t guest_buf(Guest *g, uint32_t slot)
{
    return g->mem + (uint64_t)(slot % g->nbufs) * g->buf_size;
}

/*
 * Post @n buffers; notify the device unless it asked not to be, or if
 * @kick is false (as when the device turned notifications off between the
 * guest's update of the ring and its check of the flags)
 */
static void guest_post_kick(Guest *g, unsigned n, bool kick)
{
    QVirtQueue *vq = g->vq;
    unsigned i;

    for (i = 0; i < n; i++) {
        uint16_t slot = g->avail_idx % vq->size;
        uint64_t desc = vq->desc + 16 * slot;

        qtest_writeq(g->qts, desc, guest_buf(g, slot));
        qtest_writel(g->qts, desc + 8, g->buf_size);
        qtest_writew(g->qts, desc + 12, VRING_DESC_F_WRITE);
        qtest_writew(g->qts, vq->avail + 4 + 2 * slot, slot);
        g->avail_idx++;
    }
    qtest_writew(g->qts, vq->avail + 2, g->avail_idx);
    if (kick && !(qtest_readw(g->qts, vq->used) & VRING_USED_F_NO_NOTIFY)) {
        g->dev->bus->virtqueue_kick(g->dev, vq);
    }
}

static void guest_post(Guest *g, unsigned n)
{
    guest_post_kick(g, n, true);
}

static bool guest_used(Guest *g, uint32_t *id, uint32_t *len)
{
    QVirtQueue *vq = g->vq;
    uint64_t elem;

    if (qtest_readw(g->qts, vq->used + 2) == g->used_idx) {
        return false;
    }
    elem = vq->used + 4 + 8 * (g->used_idx % vq->size);
    *id = qtest_readl(g->qts, elem);
    *len = qtest_readl(g->qts, elem + 4);
    g->used_idx++;
    return true;
}

/* Take the next packet the device put into the ring, if any */
static bool guest_poll(Guest *g, Pkt *p)
{
    uint32_t id, len, n;
    uint8_t *buf;

    if (!guest_used(g, &id, &len)) {
        return false;
    }
    g_assert_cmpint(len, >=, GUEST_HDR_LEN);
    g_assert_cmpint(len, <=, g->buf_size);
    buf = g_malloc(len);
    memread(guest_buf(g, id), buf, len);
    memcpy(&p->hdr, buf, sizeof(p->hdr));
    p->hdr.hdr_len = le16_to_cpu(p->hdr.hdr_len);
    p->hdr.gso_size = le16_to_cpu(p->hdr.gso_size);
    p->hdr.csum_start = le16_to_cpu(p->hdr.csum_start);
    p->hdr.csum_offset = le16_to_cpu(p->hdr.csum_offset);
    p->num_buffers = le16_to_cpu(p->hdr.num_buffers);
    p->len = len - GUEST_HDR_LEN;
    p->data = g_memdup2(buf + GUEST_HDR_LEN, p->len);
    g_free(buf);

    for (n = 1; n < p->num_buffers; n++) {
        g_assert(guest_used(g, &id, &len));
        p->data = g_realloc(p->data, p->len + len);
        memread(guest_buf(g, id), p->data + p->len, len);
        p->len += len;
    }
    return true;
}

static void pkt_free(Pkt *p)
{
    g_free(p->data);
    p->data = NULL;
}

/* Into the tap interface, with the virtio-net header the backend is to give */
static void send_frame_hdr(Guest *g, const struct virtio_net_hdr *h,
                           const uint8_t *f, size_t len)
{
    struct iovec iov[] = {
        { .iov_base = (void *)h, .iov_len = sizeof(*h) },
        { .iov_base = (void *)f, .iov_len = len },
    };

    g_assert_true(g->raw && g->vnet_hdr);
    g_assert_cmpint(writev(g->sock, iov, 2), ==, sizeof(*h) + len);
}

static void send_frame(Guest *g, const uint8_t *f, size_t len)
{
    uint32_t be_len = htonl(len);
    struct iovec iov[] = {
        { .iov_base = &be_len, .iov_len = sizeof(be_len) },
        { .iov_base = (void *)f, .iov_len = len },
    };

    if (g->vnet_hdr) {
        struct virtio_net_hdr none = { 0 };

        send_frame_hdr(g, &none, f, len);
        return;
    }
    if (g->raw) {
        g_assert_cmpint(send(g->sock, f, len, 0), ==, len);
        return;
    }
    g_assert_cmpint(iov_send(g->sock, iov, 2, 0, sizeof(be_len) + len), ==,
                    sizeof(be_len) + len);
}

static void send_seg(Guest *g, const Seg *s)
{
    uint8_t f[14 + 60 + 60 + 9000];

    g_assert_cmpint(s->len, <=, 9000);
    send_frame(g, f, build_frame(f, s));
}

static bool is_marker(const Pkt *p)
{
    return p->len >= 14 && get16(p->data + 12) == ETH_P_MARKER;
}

/*
 * Wait until QEMU has read all that was sent on the socket netdev; false
 * where the host cannot tell (SIOCOUTQ is Linux's)
 */
static bool guest_wait_read(Guest *g)
{
#ifdef CONFIG_LINUX
    gint64 start = g_get_monotonic_time();
    int unread;

    for (;;) {
        g_assert_cmpint(ioctl(g->sock, SIOCOUTQ, &unread), ==, 0);
        if (!unread) {
            return true;
        }
        g_assert_cmpint(g_get_monotonic_time() - start, <=, RX_TIMEOUT_US);
        g_usleep(100);
    }
#else
    return false;
#endif
}

/*
 * With a filter-buffer on the netdev: once QEMU has read all that was sent,
 * the filter holds it; let time pass for it to be released, in order.
 */
static void guest_release(Guest *g)
{
    g_assert_true(guest_wait_read(g));
    qtest_clock_step(g->qts, g->release_ns);
}

/* Send a frame the engine bypasses, numbered @no */
static void send_marker(Guest *g, uint32_t no)
{
    uint8_t f[60] = { 0 };

    memcpy(f, guest_mac, 6);
    memcpy(f + 6, peer_mac, 6);
    put16(f + 12, ETH_P_MARKER);
    put32(f + 14, no);
    send_frame(g, f, sizeof(f));
}

/*
 * Send a marker and collect what the guest gets before it: when the
 * marker is in, QEMU has processed every frame sent earlier.
 */
static GArray *guest_sync(Guest *g)
{
    static uint32_t marker_no;
    GArray *pkts = g_array_new(false, true, sizeof(Pkt));
    gint64 start = g_get_monotonic_time();

    send_marker(g, ++marker_no);
    if (g->release_ns) {
        guest_release(g);
    }

    for (;;) {
        Pkt p;

        if (!guest_poll(g, &p)) {
            g_assert_cmpint(g_get_monotonic_time() - start, <=, RX_TIMEOUT_US);
            g_usleep(100);
            continue;
        }
        if (is_marker(&p) && get32(p.data + 14) == marker_no) {
            pkt_free(&p);
            return pkts;
        }
        g_array_append_val(pkts, p);
    }
}

static void pkts_free(GArray *pkts)
{
    guint i;

    for (i = 0; i < pkts->len; i++) {
        pkt_free(&g_array_index(pkts, Pkt, i));
    }
    g_array_free(pkts, true);
}

/*
 * Let QEMU take every frame sent so far at the current time, step the
 * virtual clock, and collect all that was delivered meanwhile.
 */
static GArray *guest_step(Guest *g, int64_t ns)
{
    GArray *pkts = guest_sync(g);
    GArray *later;

    qtest_clock_step(g->qts, ns);
    later = guest_sync(g);
    g_array_append_vals(pkts, later->data, later->len);
    g_array_free(later, true);
    return pkts;
}

static void assert_untouched(const Pkt *p, const Seg *s)
{
    uint8_t f[14 + 60 + 60 + 9000];
    size_t len = build_frame(f, s);

    g_assert_cmpint(p->hdr.flags, ==, 0);
    g_assert_cmpint(p->hdr.gso_type, ==, VIRTIO_NET_HDR_GSO_NONE);
    g_assert_cmpint(p->len, ==, len);
    g_assert(memcmp(p->data, f, len) == 0);
}

/*
 * Check a coalesced packet against the frame built independently from
 * segments @first..@last: first segment's headers, concatenated payload,
 * latest ACK, window and timestamps; no duplicate ACK is ever absorbed.
 */
static void assert_coalesced(const Pkt *p, const Seg *segs, int first,
                             int last)
{
    Seg big = segs[first];
    const Seg *end = &segs[last];
    uint32_t total = 0, mss = 0;
    g_autofree uint8_t *f = g_malloc(14 + 60 + 60 + 65536);
    size_t len;
    int i;

    for (i = first; i <= last; i++) {
        total += segs[i].len;
        mss = MAX(mss, segs[i].len);
        big.flags |= segs[i].flags & F_PSH;
    }
    big.len = total;
    big.ack = end->ack;
    big.win = end->win;
    big.tsval = end->tsval;
    big.tsecr = end->tsecr;
    /* build_frame would write pattern bytes; payload is checked below */
    g_assert_cmpint(14 + (big.ipv6 ? 40 : 20) + (big.ts ? 32 : 20) + total,
                    <=, 14 + 60 + 60 + 65536);
    len = build_frame(f, &big);

    g_assert_cmpint(p->hdr.flags, ==,
                    VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_RSC_INFO);
    g_assert_cmpint(p->hdr.gso_type, ==, big.ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
                                                    VIRTIO_NET_HDR_GSO_TCPV4);
    g_assert_cmpint(p->hdr.gso_size, ==, mss);
    g_assert_cmpint(p->hdr.hdr_len, ==, len - total);
    g_assert_cmpint(p->hdr.csum_start, ==, last - first + 1);  /* segments */
    g_assert_cmpint(p->hdr.csum_offset, ==, 0);  /* duplicate ACKs */
    g_assert_cmpint(p->len, ==, len);
    g_assert(memcmp(p->data, f, len) == 0);
}

static Seg data_seg(bool ipv6, bool ts, int i)
{
    return (Seg) {
        .ipv6 = ipv6, .ts = ts,
        .seq = 1000 + i * MSS, .ack = 7000 + i, .win = 500 + i,
        .tsval = 100 + i, .tsecr = 50, .ip_id = 10 + i,
        .stream_off = i * MSS, .len = MSS,
    };
}

/* Send data segments @from..@to - 1 of the flow into @segs[from..to - 1] */
static void send_data_segs(Guest *g, Seg *segs, int from, int to, bool ipv6,
                           bool ts)
{
    int i;

    for (i = from; i < to; i++) {
        segs[i] = data_seg(ipv6, ts, i);
        send_seg(g, &segs[i]);
    }
}

/* Tests */

typedef struct RscTestArgs {
    int sv[2];
} RscTestArgs;

/* The fake guest of most tests: on the socket netdev, 64 buffers posted */
static void guest_start(Guest *g, QVirtioNet *net, void *data,
                        QGuestAllocator *alloc)
{
    guest_init(g, net, ((RscTestArgs *)data)->sv[0], alloc, 256,
               MRG_BUF_SIZE);
    guest_post(g, 64);
}

/* The device offers RSC_EXT as @rsc says, never the reserved bits 41/42 */
static void assert_rsc_offered(QVirtioNet *net, bool rsc)
{
    uint64_t features = qvirtio_get_features(net->vdev);

    g_assert_cmphex(features & (1ULL << 41 | 1ULL << 42), ==, 0);
    g_assert_cmpint(!!(features & (1ULL << VIRTIO_NET_F_RSC_EXT)), ==, rsc);
}

static void coalesce(QVirtioNet *net, int sock, QGuestAllocator *alloc,
                     bool ipv6)
{
    Guest g;
    Seg segs[8];
    GArray *pkts;

    assert_rsc_offered(net, true);
    guest_init(&g, net, sock, alloc, 256, MRG_BUF_SIZE);
    guest_post(&g, 64);
    send_data_segs(&g, segs, 0, 8, ipv6, true);

    /* held until the interval expires */
    pkts = guest_step(&g, INTERVAL_NS - 1);
    g_assert_cmpint(pkts->len, ==, 0);
    pkts_free(pkts);

    pkts = guest_step(&g, 1);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 7);
    g_assert_cmpint(g_array_index(pkts, Pkt, 0).num_buffers, ==,
                    DIV_ROUND_UP(GUEST_HDR_LEN +
                                 g_array_index(pkts, Pkt, 0).len,
                                 MRG_BUF_SIZE));
    pkts_free(pkts);
}

static void test_ipv4_ts(void *obj, void *data, QGuestAllocator *alloc)
{
    coalesce(obj, ((RscTestArgs *)data)->sv[0], alloc, false);
}

static void test_ipv6_ts(void *obj, void *data, QGuestAllocator *alloc)
{
    coalesce(obj, ((RscTestArgs *)data)->sv[0], alloc, true);
}

/* A FIN leaves after the flow's pending data; other flows are not flushed */
static void test_finalize(void *obj, void *data, QGuestAllocator *alloc)
{
    Guest g;
    Seg segs[4], other, fin;
    GArray *pkts;

    guest_start(&g, obj, data, alloc);

    other = data_seg(false, false, 0);
    other.sport = 6000;
    send_seg(&g, &other);
    send_data_segs(&g, segs, 0, 3, false, false);
    fin = data_seg(false, false, 3);
    fin.len = 0;
    fin.flags = F_FIN | F_ACK;
    send_seg(&g, &fin);

    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 2);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 2);
    assert_untouched(&g_array_index(pkts, Pkt, 1), &fin);
    pkts_free(pkts);

    /* the other flow's single segment is delivered as it came */
    pkts = guest_step(&g, INTERVAL_NS);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_untouched(&g_array_index(pkts, Pkt, 0), &other);
    pkts_free(pkts);
}

static void test_dup_acks(void *obj, void *data, QGuestAllocator *alloc)
{
    Guest g;
    Seg segs[2], dup;
    GArray *pkts;
    int i;

    guest_start(&g, obj, data, alloc);
    send_data_segs(&g, segs, 0, 2, false, true);
    dup = segs[1];
    dup.seq += MSS;
    dup.len = 0;
    for (i = 0; i < 3; i++) {
        send_seg(&g, &dup);
    }

    /* NetKVM hands Windows no count: each goes out as it came, at once */
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 4);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 1);
    for (i = 1; i < 4; i++) {
        assert_untouched(&g_array_index(pkts, Pkt, i), &dup);
    }
    pkts_free(pkts);
}

/*
 * PSH does not end a unit: the frames QEMU reads in the same burst (the
 * same virtual time here) still join, and the timer delivers the unit as
 * soon as the clock moves on, without waiting for rsc_interval.
 */
static void test_psh(void *obj, void *data, QGuestAllocator *alloc)
{
    Guest g;
    Seg segs[4];
    GArray *pkts;
    int i;

    guest_start(&g, obj, data, alloc);
    for (i = 0; i < 4; i++) {
        segs[i] = data_seg(true, true, i);
        segs[i].flags = F_ACK | (i == 1 ? F_PSH : 0);
        send_seg(&g, &segs[i]);
    }
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 0);
    pkts_free(pkts);

    pkts = guest_step(&g, 1);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 3);
    g_assert(g_array_index(pkts, Pkt, 0).data[14 + 40 + 13] & F_PSH);
    pkts_free(pkts);
}

/* The QOM path of the test's virtio-net-pci, which qos adds without id */
static char *device_path(void)
{
    QDict *rsp = qmp("{ 'execute': 'qom-list', 'arguments': {"
                     " 'path': '/machine/peripheral-anon' } }");
    QList *list = qdict_get_qlist(rsp, "return");
    QListEntry *e;
    char *path = NULL;

    QLIST_FOREACH_ENTRY(list, e) {
        QDict *d = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(d, "type"), "child<virtio-net-pci>")) {
            path = g_strdup_printf("/machine/peripheral-anon/%s/"
                                   "virtio-backend", qdict_get_str(d, "name"));
        }
    }
    qobject_unref(rsp);
    g_assert(path);
    return path;
}

static QDict *rsc_stats(void)
{
    g_autofree char *path = device_path();
    QDict *rsp = qmp("{ 'execute': 'qom-get', 'arguments': {"
                     " 'path': %s, 'property': 'rsc-stats' } }", path);

    g_assert(qdict_haskey(rsp, "return"));
    return rsp;
}

static int64_t rsc_stat(const char *name)
{
    QDict *rsp = rsc_stats();
    int64_t v = qdict_get_int(qdict_get_qdict(rsp, "return"), name);

    qobject_unref(rsp);
    return v;
}

/* The device's boolean property @name */
static bool device_prop_bool(const char *name)
{
    g_autofree char *path = device_path();
    QDict *rsp = qmp("{ 'execute': 'qom-get', 'arguments': {"
                     " 'path': %s, 'property': %s } }", path, name);
    bool v = qdict_get_bool(rsp, "return");

    qobject_unref(rsp);
    return v;
}

/* Wait until the engines have taken @n frames in all */
static void rsc_wait_received(int64_t n)
{
    gint64 start = g_get_monotonic_time();

    while (rsc_stat("received") < n) {
        g_assert_cmpint(g_get_monotonic_time() - start, <=, RX_TIMEOUT_US);
        g_usleep(1000);
    }
}

/* 60 segments: several packets, none past 65535 bytes of IP datagram */
static void test_limit(void *obj, void *data, QGuestAllocator *alloc)
{
    Guest g;
    Seg segs[60];
    GArray *pkts;
    int first = 0;
    guint n;

    guest_init(&g, obj, ((RscTestArgs *)data)->sv[0], alloc, 256, MRG_BUF_SIZE);
    guest_post(&g, 200);
    send_data_segs(&g, segs, 0, 60, false, true);
    pkts = guest_step(&g, INTERVAL_NS);
    g_assert_cmpint(pkts->len, ==, 2);
    for (n = 0; n < pkts->len; n++) {
        Pkt *p = &g_array_index(pkts, Pkt, n);
        /* as many segments as fit with IPv4 and TCP headers, timestamps */
        int count = n ? 60 - first : (65535 - 20 - 32) / MSS;

        assert_coalesced(p, segs, first, first + count - 1);
        g_assert_cmpint(p->len - 14, <=, 65535);
        first += count;
    }
    g_assert_cmpint(first, ==, 60);
    g_assert_cmpint(rsc_stat("size-limit"), ==, 1);
    pkts_free(pkts);
}

/*
 * The guest has room for nothing: the engine keeps its packets and the net
 * queue the frames behind; after the guest posts buffers, all arrive in
 * order and nothing is lost.
 */
static void test_ring_full(void *obj, void *data, QGuestAllocator *alloc)
{
    Guest g;
    Seg segs[40];
    GArray *pkts;
    int first = 0;
    guint n;
    gint64 start;

    guest_init(&g, obj, ((RscTestArgs *)data)->sv[0], alloc, 256, MRG_BUF_SIZE);
    /*
     * 2 buffers: the marker takes one, and one is not enough for the
     * coalesced packet of 10 segments.
     */
    guest_post(&g, 2);
    send_data_segs(&g, segs, 0, 10, false, true);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 0);
    pkts_free(pkts);
    qtest_clock_step(g.qts, INTERVAL_NS);
    /* the unit was due, and the guest had no room for it */
    g_assert_cmpint(rsc_stat("refused"), ==, 1);
    /* the engine is stalled: these wait in the net queue and the socket */
    send_data_segs(&g, segs, 10, 40, false, true);

    guest_post(&g, 250);
    /* the kick resumed delivery; let the rest expire and sync */
    start = g_get_monotonic_time();
    n = 0;
    while (first < 40) {
        pkts = guest_step(&g, INTERVAL_NS);
        for (n = 0; n < pkts->len; n++) {
            Pkt *p = &g_array_index(pkts, Pkt, n);
            int count = p->hdr.flags & VIRTIO_NET_HDR_F_RSC_INFO ?
                        p->hdr.csum_start : 1;

            if (count == 1) {
                assert_untouched(p, &segs[first]);
            } else {
                assert_coalesced(p, segs, first, first + count - 1);
            }
            first += count;
        }
        pkts_free(pkts);
        g_assert_cmpint(g_get_monotonic_time() - start, <=, RX_TIMEOUT_US);
    }
    g_assert_cmpint(first, ==, 40);
}

/*
 * What closes units shows in the counters: a window update absorbed, a
 * duplicate ACK, a FIN and a bad TCP checksum each closing a unit
 */
static void stats_exceptions(Guest *g)
{
    static const char *const names[] = {
        "window-updates", "dup-acks", "finalized", "aborts",
        "coalesce-events",
    };
    int64_t before[G_N_ELEMENTS(names)];
    uint8_t f[14 + 20 + 32 + MSS];
    Seg seg[4], wu, fin;
    GArray *pkts;
    size_t len;
    int i;

    for (i = 0; i < G_N_ELEMENTS(names); i++) {
        before[i] = rsc_stat(names[i]);
    }
    /* a unit, a window update it absorbs, then the same ACK again */
    seg[0] = data_seg(false, true, 4);
    wu = seg[0];
    wu.seq += MSS;
    wu.len = 0;
    wu.win += 10;
    send_seg(g, &seg[0]);
    send_seg(g, &wu);
    send_seg(g, &wu);
    /* a unit closed by a FIN */
    seg[1] = data_seg(false, true, 5);
    fin = data_seg(false, true, 6);
    fin.flags = F_FIN | F_ACK;
    send_seg(g, &seg[1]);
    send_seg(g, &fin);
    /* a unit closed by a segment whose TCP checksum is wrong */
    seg[2] = data_seg(false, true, 7);
    seg[3] = data_seg(false, true, 8);
    send_seg(g, &seg[2]);
    len = build_frame(f, &seg[3]);
    f[len - 1] ^= 0xff;
    send_frame(g, f, len);

    pkts = guest_sync(g);
    /* each unit, then what closed it; the first took the new window */
    g_assert_cmpint(pkts->len, ==, 6);
    seg[0].win = wu.win;
    assert_coalesced(&g_array_index(pkts, Pkt, 0), seg, 0, 0);
    assert_untouched(&g_array_index(pkts, Pkt, 1), &wu);
    assert_untouched(&g_array_index(pkts, Pkt, 2), &seg[1]);
    assert_untouched(&g_array_index(pkts, Pkt, 3), &fin);
    assert_untouched(&g_array_index(pkts, Pkt, 4), &seg[2]);
    g_assert_cmpmem(g_array_index(pkts, Pkt, 5).data,
                    g_array_index(pkts, Pkt, 5).len, f, len);
    pkts_free(pkts);

    g_assert_cmpint(rsc_stat("window-updates"), ==, before[0] + 1);
    g_assert_cmpint(rsc_stat("dup-acks"), ==, before[1] + 1);
    g_assert_cmpint(rsc_stat("finalized"), ==, before[2] + 3);
    g_assert_cmpint(rsc_stat("aborts"), ==, before[3] + 2);
    /* no unit had two data segments */
    g_assert_cmpint(rsc_stat("coalesce-events"), ==, before[4]);
}

static void test_stats(void *obj, void *data, QGuestAllocator *alloc)
{
    Guest g;
    Seg s;
    GArray *pkts;
    QDict *rsp, *st;
    int i;

    guest_start(&g, obj, data, alloc);
    for (i = 0; i < 4; i++) {
        s = data_seg(false, true, i);
        send_seg(&g, &s);
    }
    pkts = guest_step(&g, INTERVAL_NS);
    g_assert_cmpint(pkts->len, ==, 1);
    pkts_free(pkts);

    rsp = rsc_stats();
    st = qdict_get_qdict(rsp, "return");
    g_assert_cmpint(qdict_get_int(st, "coalesced-pkts"), ==, 4);
    g_assert_cmpint(qdict_get_int(st, "coalesced-octets"), ==, 4 * MSS);
    g_assert_cmpint(qdict_get_int(st, "coalesce-events"), ==, 1);
    g_assert_cmpint(qdict_get_int(st, "timer-drains"), ==, 1);
    /* the guest's marker frames are received and delivered at once */
    g_assert_cmpint(qdict_get_int(st, "bypassed"), >=, 1);
    g_assert_cmpint(qdict_get_int(st, "received"), ==,
                    4 + qdict_get_int(st, "bypassed"));
    g_assert_cmpint(qdict_get_int(st, "delivered"), ==,
                    1 + qdict_get_int(st, "bypassed"));
    g_assert_cmpint(qdict_get_int(st, "refused"), ==, 0);
    /* the members of VirtioNetRscStats, and no others */
    g_assert_cmpint(qdict_size(st), ==, 15);
    qobject_unref(rsp);

    stats_exceptions(&g);
}

/* Data held when the VM stops reaches the guest, intact, by the time it runs */
static void test_stop_cont(void *obj, void *data, QGuestAllocator *alloc)
{
    Guest g;
    Seg segs[5];
    GArray *pkts;
    QDict *rsp;

    guest_start(&g, obj, data, alloc);
    send_data_segs(&g, segs, 0, 5, false, true);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 0);
    pkts_free(pkts);

    rsp = qmp("{ 'execute': 'stop' }");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    rsp = qmp("{ 'execute': 'cont' }");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);

    /* no clock step: the stop delivered the unit */
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 4);
    pkts_free(pkts);
}

/*
 * Migration while the engine holds a coalesced packet the guest has no
 * room for: the destination delivers it, byte for byte, once the guest
 * posts buffers, and goes on coalescing.
 */
/* Wait until the migration @from started has completed */
static void rsc_wait_migrated(QTestState *from, gint64 start)
{
    for (;;) {
        QDict *rsp = qtest_qmp(from, "{ 'execute': 'query-migrate' }");
        QDict *ret = qdict_get_qdict(rsp, "return");
        const char *status = qdict_get_try_str(ret, "status");
        bool done;

        g_assert(status);
        g_assert_cmpstr(status, !=, "failed");
        done = !strcmp(status, "completed");
        qobject_unref(rsp);
        if (done) {
            return;
        }
        g_assert_cmpint(g_get_monotonic_time() - start, <=, RX_TIMEOUT_US);
        g_usleep(1000);
    }
}

static void rsc_wait_migration(QTestState *from, QTestState *to)
{
    gint64 start = g_get_monotonic_time();

    rsc_wait_migrated(from, start);
    for (;;) {
        QDict *rsp = qtest_qmp(to, "{ 'execute': 'query-status' }");
        bool running = qdict_get_bool(qdict_get_qdict(rsp, "return"),
                                      "running");

        qobject_unref(rsp);
        if (running) {
            break;
        }
        g_assert_cmpint(g_get_monotonic_time() - start, <=, RX_TIMEOUT_US);
        g_usleep(1000);
    }
}

/* A second QEMU waiting for the migration, and the way back */
typedef struct Migration {
    QTestState *to;
    char *dir;
    char *uri;
    int sv[2];
} Migration;

static void migration_prepare(Migration *m)
{
    g_autofree char *cmd = NULL;

    m->dir = g_dir_make_tmp("rsc-migrate-XXXXXX", NULL);
    g_assert(m->dir);
    m->uri = g_strdup_printf("unix:%s/mig", m->dir);
    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, m->sv), !=, -1);
    cmd = g_strdup_printf("%s -netdev socket,fd=%d,id=hs0 -incoming %s",
                          qos_get_current_command_line(), m->sv[1], m->uri);
    m->to = qtest_init(cmd);
}

/* Migrate; then @g and @bus talk to the destination */
static void migration_run(Migration *m, Guest *g, QPCIBus *bus)
{
    QDict *rsp;

    rsp = qtest_qmp(global_qtest, "{ 'execute': 'migrate', 'arguments': "
                    "{ 'uri': %s } }", m->uri);
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    rsc_wait_migration(global_qtest, m->to);

    /* the guest now lives in @to: its rings and buffers came along */
    global_qtest = m->to;
    bus->qts = m->to;
    g->qts = m->to;
    g->sock = m->sv[0];
}

static void migration_end(Migration *m, QTestState *from, QPCIBus *bus)
{
    g_autofree char *path = g_strdup_printf("%s/mig", m->dir);

    global_qtest = from;
    bus->qts = from;
    qtest_quit(m->to);
    close(m->sv[0]);
    close(m->sv[1]);
    unlink(path);
    rmdir(m->dir);
    g_free(m->dir);
    g_free(m->uri);
}

static void test_migrate(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNetPCI *dev = obj;
    QPCIBus *bus = dev->pci_vdev.pdev->bus;
    QTestState *from = global_qtest;
    Migration m;
    Guest g;
    Seg segs[20];
    GArray *pkts;

    migration_prepare(&m);
    guest_init(&g, &dev->net, ((RscTestArgs *)data)->sv[0], alloc, 256,
               MRG_BUF_SIZE);
    /* one buffer for the sync marker, one too few for the packet */
    guest_post(&g, 2);
    send_data_segs(&g, segs, 0, 10, false, true);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 0);
    pkts_free(pkts);

    migration_run(&m, &g, bus);
    {
        Pkt p;
        g_assert_false(guest_poll(&g, &p));
    }
    guest_post(&g, 60);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 9);
    pkts_free(pkts);

    send_data_segs(&g, segs, 10, 20, false, true);
    pkts = guest_step(&g, INTERVAL_NS);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 10, 19);
    pkts_free(pkts);

    migration_end(&m, from, bus);
}

static void common_cfg_writew(QVirtioPCIDevice *dev, size_t off, uint16_t val)
{
    qpci_io_writew(dev->pdev, dev->bar, dev->common_cfg_offset + off, val);
}

static uint16_t common_cfg_readw(QVirtioPCIDevice *dev, size_t off)
{
    return qpci_io_readw(dev->pdev, dev->bar, dev->common_cfg_offset + off);
}

/*
 * A receive queue reset on its own (VIRTIO_F_RING_RESET) while the engine
 * holds a unit: the unit waits for the queue, it is neither dropped nor
 * written into the ring the guest took back, and arrives once the guest
 * has set the queue up again and posted buffers.
 */
static void test_ring_reset(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNetPCI *dev = obj;
    QVirtioPCIDevice *pci = &dev->pci_vdev;
    Guest g;
    Seg segs[8];
    GArray *pkts;
    uint16_t used_before;

    if (!(pci->vdev.features & (1ull << VIRTIO_F_RING_RESET))) {
        g_test_skip("VIRTIO_F_RING_RESET not negotiated");
        return;
    }
    guest_start(&g, &dev->net, data, alloc);
    send_data_segs(&g, segs, 0, 8, false, true);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 0);
    pkts_free(pkts);

    pci->vdev.bus->queue_select(&pci->vdev, 0);
    common_cfg_writew(pci, offsetof(struct virtio_pci_modern_common_cfg,
                                    queue_reset), 1);
    g_assert_cmpint(common_cfg_readw(pci,
                        offsetof(struct virtio_pci_common_cfg, queue_enable)),
                    ==, 0);

    /* the interval expires while the queue is reset */
    used_before = qtest_readw(g.qts, g.vq->used + 2);
    qtest_clock_step(g.qts, INTERVAL_NS);
    g_assert_cmpint(qtest_readw(g.qts, g.vq->used + 2), ==, used_before);
    g_assert_cmpint(rsc_stat("refused"), ==, 1);

    /* the guest sets the queue up afresh, as a driver does after reset */
    g.vq = qvirtqueue_setup(&pci->vdev, alloc, 0);
    g.avail_idx = 0;
    g.used_idx = 0;
    guest_post(&g, 64);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 7);
    pkts_free(pkts);
    qvirtqueue_cleanup(pci->vdev.bus, g.vq, alloc);
}

/* A device reset drops what was held: the guest asked for a clean device */
static void test_reset(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    QVirtioDevice *dev = net->vdev;
    Guest g;
    Seg segs[3], after;
    GArray *pkts;
    int i;

    guest_start(&g, net, data, alloc);
    send_data_segs(&g, segs, 0, 3, false, true);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 0);
    pkts_free(pkts);

    /* reset and bring the device up again with fresh queues */
    qvirtio_start_device(dev);
    qvirtio_set_features(dev, dev->features);
    for (i = 0; i < net->n_queues; i++) {
        qvirtqueue_cleanup(dev->bus, net->queues[i], alloc);
        net->queues[i] = qvirtqueue_setup(dev, alloc, i);
    }
    qvirtio_set_driver_ok(dev);
    guest_start(&g, net, data, alloc);

    after = data_seg(false, true, 10);
    send_seg(&g, &after);
    pkts = guest_step(&g, 10 * INTERVAL_NS);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_untouched(&g_array_index(pkts, Pkt, 0), &after);
    pkts_free(pkts);

    g_assert_cmpint(rsc_stat("coalesced-pkts"), ==, 0);
}

/*
 * A receive buffer aimed at the device's own status register.  The guest
 * chains 4 bytes of the common configuration (device_status) before a
 * buffer in RAM; the first packet the timer drains has an all-zero header
 * (a unit of one segment, as the backend gave it), and writing it would
 * reset the device while the engine walks its queue.  The write must be
 * refused instead: the device stays up, the packets behind arrive intact,
 * and coalescing goes on.
 */
static void test_reentrant_reset(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    QVirtioNetPCI *dev = obj;
    QVirtioPCIDevice *pci = &dev->pci_vdev;
    size_t status_off = pci->common_cfg_offset +
                        offsetof(struct virtio_pci_common_cfg, device_status);
    Guest g;
    Seg a = data_seg(false, true, 0), b = data_seg(false, true, 0);
    Seg segs[3];
    uint8_t fa[14 + 60 + 60 + MSS], ram[GUEST_HDR_LEN + sizeof(fa)];
    size_t alen = build_frame(fa, &a);
    uint16_t head;
    uint64_t desc, rest;
    uint32_t id, len;
    GArray *pkts;

    g_assert(!pci->bar.is_io);
    guest_init(&g, &dev->net, ((RscTestArgs *)data)->sv[0], alloc, 256,
               MRG_BUF_SIZE);
    head = g.vq->size - 2;
    rest = guest_alloc(alloc, MRG_BUF_SIZE);
    desc = g.vq->desc + 16 * head;
    qtest_writeq(g.qts, desc, pci->bar.addr + status_off);
    qtest_writel(g.qts, desc + 8, 4);
    qtest_writew(g.qts, desc + 12, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
    qtest_writew(g.qts, desc + 14, head + 1);
    qtest_writeq(g.qts, desc + 16, rest);
    qtest_writel(g.qts, desc + 24, MRG_BUF_SIZE);
    qtest_writew(g.qts, desc + 28, VRING_DESC_F_WRITE);
    qtest_writew(g.qts, g.vq->avail + 4 + 2 * (g.avail_idx % g.vq->size),
                 head);
    g.avail_idx++;
    guest_post(&g, 63);

    /* two flows, a unit of one segment each, drained by the timer */
    b.sport = 6000;
    send_seg(&g, &a);
    send_seg(&g, &b);
    rsc_wait_received(2);
    qtest_clock_step(g.qts, INTERVAL_NS);

    g_assert_cmphex(qpci_io_readb(pci->pdev, pci->bar, status_off) &
                    VIRTIO_CONFIG_S_DRIVER_OK, ==, VIRTIO_CONFIG_S_DRIVER_OK);
    g_assert(guest_used(&g, &id, &len));
    g_assert_cmpint(id, ==, head);
    g_assert_cmpint(len, ==, GUEST_HDR_LEN + alen);
    /* the header's first 4 bytes went nowhere, the rest is in RAM */
    memread(rest, ram, len - 4);
    g_assert_cmpint(ram[GUEST_HDR_LEN - 2 - 4], ==, 1);    /* num_buffers */
    g_assert(memcmp(ram + GUEST_HDR_LEN - 4, fa, alen) == 0);

    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_untouched(&g_array_index(pkts, Pkt, 0), &b);
    pkts_free(pkts);

    /* still the same device, still coalescing */
    g_assert_cmpint(rsc_stat("delivered"), >=, 3);
    segs[0] = data_seg(false, true, 1);
    segs[1] = data_seg(false, true, 2);
    segs[2] = data_seg(false, true, 3);
    send_seg(&g, &segs[1]);
    send_seg(&g, &segs[2]);
    pkts = guest_step(&g, INTERVAL_NS);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 1, 2);
    pkts_free(pkts);
}

/* Send a control queue command and return the device's ack */
static uint8_t ctrl_cmd(QVirtioNet *net, QGuestAllocator *alloc,
                        uint8_t class, uint8_t command,
                        const void *data, size_t len)
{
    QTestState *qts = global_qtest;
    QVirtQueue *cvq = net->queues[net->n_queues - 1];
    uint64_t req = guest_alloc(alloc, 2 + len + 1);
    uint8_t cmd[2] = { class, command };
    uint8_t status = 0xff;
    uint32_t head;

    memwrite(req, cmd, 2);
    memwrite(req + 2, data, len);
    memwrite(req + 2 + len, &status, 1);
    head = qvirtqueue_add(qts, cvq, req, 2, false, true);
    qvirtqueue_add(qts, cvq, req + 2, len, false, true);
    qvirtqueue_add(qts, cvq, req + 2 + len, 1, true, false);
    qvirtqueue_kick(qts, net->vdev, cvq, head);
    qvirtio_wait_used_elem(qts, net->vdev, cvq, head, NULL, RX_TIMEOUT_US);
    memread(req + 2 + len, &status, 1);
    guest_free(alloc, req);
    return status;
}

static uint8_t ctrl_offloads(QVirtioNet *net, QGuestAllocator *alloc,
                             uint64_t offloads)
{
    uint64_t le = cpu_to_le64(offloads);

    return ctrl_cmd(net, alloc, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
                    VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, &le, sizeof(le));
}

static void set_queue_pairs(QVirtioNet *net, QGuestAllocator *alloc,
                            uint16_t pairs)
{
    uint16_t le = cpu_to_le16(pairs);

    g_assert_cmpint(ctrl_cmd(net, alloc, VIRTIO_NET_CTRL_MQ,
                             VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
                             &le, sizeof(le)), ==, VIRTIO_NET_OK);
}

/*
 * The guest posts buffers while the engine holds a packet it refused, but
 * does not kick (the device turned notifications off meanwhile).  What then
 * delivers the held packet, the timer or RSC going off, must also let the
 * net queue go on: a frame QEMU queued during the stall arrives, and so do
 * later ones.
 */
static void resume_without_kick(QVirtioNet *net, void *data,
                                QGuestAllocator *alloc, bool rsc_off)
{
    Guest g;
    Seg a[2], b[2];
    GArray *pkts;
    int i;

    guest_init(&g, net, ((RscTestArgs *)data)->sv[0], alloc, 256,
               MRG_BUF_SIZE);
    /* one buffer, for the marker of the sync below */
    guest_post(&g, 1);
    send_data_segs(&g, a, 0, 2, false, true);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 0);
    pkts_free(pkts);
    qtest_clock_step(g.qts, INTERVAL_NS / 2);
    for (i = 0; i < 2; i++) {
        b[i] = data_seg(false, true, i);
        b[i].sport = 5002;
        send_seg(&g, &b[i]);
    }
    g_assert_true(guest_wait_read(&g));

    /* A's unit is due and refused: no buffers */
    qtest_clock_step(g.qts, INTERVAL_NS / 2);
    /* a frame that finds the engine stalled waits in the net queue */
    send_marker(&g, 0xffff0000);
    g_assert_true(guest_wait_read(&g));

    guest_post_kick(&g, 64, false);
    if (rsc_off) {
        /* A, then B's unit, then the queue */
        g_assert_cmpint(ctrl_offloads(net, alloc,
                                      (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
                                      (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
                                      (1ULL << VIRTIO_NET_F_GUEST_TSO6)),
                        ==, VIRTIO_NET_OK);
    } else {
        /* B's unit is due: the timer delivers A, then B, then the queue */
        qtest_clock_step(g.qts, INTERVAL_NS / 2);
    }
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 3);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), a, 0, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 1), b, 0, 1);
    g_assert(is_marker(&g_array_index(pkts, Pkt, 2)));
    g_assert_cmphex(get32(g_array_index(pkts, Pkt, 2).data + 14), ==,
                    0xffff0000);
    pkts_free(pkts);
}

static void test_timer_resume(void *obj, void *data, QGuestAllocator *alloc)
{
    resume_without_kick(obj, data, alloc, false);
}

static void test_offloads_resume(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    resume_without_kick(obj, data, alloc, true);
}

/* The guest gets @segs[0..n-1] at once, each alone and untouched */
static void expect_alone(Guest *g, const Seg *segs, int n)
{
    GArray *pkts = guest_sync(g);
    int i;

    g_assert_cmpint(pkts->len, ==, n);
    for (i = 0; i < n; i++) {
        assert_untouched(&g_array_index(pkts, Pkt, i), &segs[i]);
    }
    pkts_free(pkts);
}

/* Bit 61 in GUEST_OFFLOADS_SET switches coalescing at run time */
static void test_offloads(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    const uint64_t base = (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
                          (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
                          (1ULL << VIRTIO_NET_F_GUEST_TSO6);
    Guest g;
    Seg segs[3];
    GArray *pkts;
    int i;

    guest_start(&g, net, data, alloc);

    /* pending data is delivered when RSC goes off */
    send_data_segs(&g, segs, 0, 2, false, true);
    g_assert_cmpint(ctrl_offloads(net, alloc, base), ==, VIRTIO_NET_OK);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 1);
    pkts_free(pkts);

    /* off: segments arrive alone and untouched, at once */
    for (i = 0; i < 3; i++) {
        segs[i] = data_seg(false, true, 2 + i);
        send_seg(&g, &segs[i]);
    }
    expect_alone(&g, segs, 3);

    /* an unknown bit is refused and changes nothing: still off */
    g_assert_cmpint(ctrl_offloads(net, alloc, base | (1ULL << 62) |
                                  (1ULL << VIRTIO_NET_F_RSC_EXT)),
                    ==, VIRTIO_NET_ERR);
    segs[0] = data_seg(false, true, 5);
    send_seg(&g, &segs[0]);
    expect_alone(&g, segs, 1);

    /* on again; a refused command does not switch it off either */
    g_assert_cmpint(ctrl_offloads(net, alloc,
                                  base | (1ULL << VIRTIO_NET_F_RSC_EXT)),
                    ==, VIRTIO_NET_OK);
    g_assert_cmpint(ctrl_offloads(net, alloc, base | (1ULL << 62)),
                    ==, VIRTIO_NET_ERR);
    for (i = 0; i < 3; i++) {
        segs[i] = data_seg(false, true, 6 + i);
        send_seg(&g, &segs[i]);
    }
    pkts = guest_step(&g, INTERVAL_NS);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 2);
    pkts_free(pkts);

    /* GUEST_TSO4 and GUEST_TSO6 each switch their IP version */
    for (i = 0; i < 2; i++) {
        bool v6 = i;

        g_assert_cmpint(ctrl_offloads(net, alloc,
                            (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
                            (1ULL << (v6 ? VIRTIO_NET_F_GUEST_TSO6 :
                                           VIRTIO_NET_F_GUEST_TSO4)) |
                            (1ULL << VIRTIO_NET_F_RSC_EXT)),
                        ==, VIRTIO_NET_OK);
        send_data_segs(&g, segs, 0, 2, !v6, true);
        expect_alone(&g, segs, 2);
        send_data_segs(&g, segs, 0, 2, v6, true);
        pkts = guest_step(&g, INTERVAL_NS);
        g_assert_cmpint(pkts->len, ==, 1);
        assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 1);
        pkts_free(pkts);
    }

    /* without GUEST_CSUM the guest takes no NEEDS_CSUM packet: off */
    g_assert_cmpint(ctrl_offloads(net, alloc,
                                  (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
                                  (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
                                  (1ULL << VIRTIO_NET_F_RSC_EXT)),
                    ==, VIRTIO_NET_OK);
    for (i = 0; i < 3; i++) {
        segs[i] = data_seg(false, true, 9 + i);
        send_seg(&g, &segs[i]);
    }
    expect_alone(&g, segs, 3);
}

/*
 * rx_coalesce: a guest that takes GSO packets (GUEST_TSO4/6, GUEST_CSUM)
 * but not RSC_EXT gets plain GSO packets that re-segment into the very
 * segments sent
 */

/* Segment @i of a bulk flow: one ACK, window and timestamp throughout */
static Seg gso_seg(bool ipv6, int i)
{
    Seg s = data_seg(ipv6, true, i);

    s.ack = 7000;
    s.win = 500;
    s.tsval = 100;
    return s;
}

/*
 * A GSO packet of segments @first..@last: their headers but the first's
 * (lengths, IPv4 checksum and PSH of the last aside), NEEDS_CSUM at the
 * TCP checksum, which holds the pseudo-header sum
 */
static void assert_gso(const Pkt *p, const Seg *segs, int first, int last)
{
    Seg big = segs[first];
    g_autofree uint8_t *f = g_malloc(14 + 60 + 60 + 65536);
    size_t len, l4 = 14 + (big.ipv6 ? 40 : 20);
    uint32_t sum;
    int i;

    big.len = 0;
    for (i = first; i <= last; i++) {
        big.len += segs[i].len;
    }
    big.flags |= segs[last].flags & F_PSH;
    len = build_frame(f, &big);
    if (big.ipv6) {
        sum = csum_add(0, f + 14 + 8, 32);
    } else {
        sum = csum_add(0, f + 14 + 12, 8);
    }
    put16(f + l4 + 16, (uint16_t)~csum_finish(sum + 6 + len - l4));

    g_assert_cmpint(p->hdr.flags, ==, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    g_assert_cmpint(p->hdr.gso_type, ==, big.ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 :
                                                    VIRTIO_NET_HDR_GSO_TCPV4);
    g_assert_cmpint(p->hdr.gso_size, ==, segs[first].len);
    g_assert_cmpint(p->hdr.hdr_len, ==, len - big.len);
    g_assert_cmpint(p->hdr.csum_start, ==, l4);
    g_assert_cmpint(p->hdr.csum_offset, ==, 16);
    g_assert_cmpint(p->len, ==, len);
    g_assert(memcmp(p->data, f, len) == 0);
}

static void test_gso(void *obj, void *data, QGuestAllocator *alloc)
{
    Guest g;
    Seg segs[8];
    GArray *pkts;
    int i;

    guest_start(&g, obj, data, alloc);

    /* IPv4: held for the interval; a new window starts a new packet */
    for (i = 0; i < 8; i++) {
        segs[i] = gso_seg(false, i);
        segs[i].win += i >= 5;
        send_seg(&g, &segs[i]);
    }
    pkts = guest_step(&g, INTERVAL_NS - 1);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_gso(&g_array_index(pkts, Pkt, 0), segs, 0, 4);
    pkts_free(pkts);
    pkts = guest_step(&g, 1);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_gso(&g_array_index(pkts, Pkt, 0), segs, 5, 7);
    pkts_free(pkts);

    /* IPv6: PSH ends the packet at once; a duplicate ACK goes out alone */
    for (i = 0; i < 4; i++) {
        segs[i] = gso_seg(true, i);
        segs[i].flags = F_ACK | (i == 3 ? F_PSH : 0);
        send_seg(&g, &segs[i]);
    }
    segs[4] = gso_seg(true, 4);
    segs[4].len = 0;
    send_seg(&g, &segs[4]);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 2);
    assert_gso(&g_array_index(pkts, Pkt, 0), segs, 0, 3);
    assert_untouched(&g_array_index(pkts, Pkt, 1), &segs[4]);
    pkts_free(pkts);
}

/* Send GSO-mode segments @first.. into @segs[0..n-1] */
static void send_gso_segs(Guest *g, Seg *segs, int n, int first)
{
    int i;

    for (i = 0; i < n; i++) {
        segs[i] = gso_seg(false, first + i);
        send_seg(g, &segs[i]);
    }
}

/* The guest gets @segs[0..n-1] as one GSO packet after the interval */
static void expect_one_gso(Guest *g, const Seg *segs, int n)
{
    GArray *pkts = guest_step(g, INTERVAL_NS);

    g_assert_cmpint(pkts->len, ==, 1);
    assert_gso(&g_array_index(pkts, Pkt, 0), segs, 0, n - 1);
    pkts_free(pkts);
}

/* GUEST_OFFLOADS_SET without TSO stops coalescing, with it resumes */
static void test_gso_offloads(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    const uint64_t csum = 1ULL << VIRTIO_NET_F_GUEST_CSUM;
    const uint64_t tso = (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
                         (1ULL << VIRTIO_NET_F_GUEST_TSO6);
    Guest g;
    Seg segs[3];
    GArray *pkts;

    guest_start(&g, net, data, alloc);

    /* pending data leaves when TSO goes off, then segments pass alone */
    send_gso_segs(&g, segs, 2, 0);
    g_assert_cmpint(ctrl_offloads(net, alloc, csum), ==, VIRTIO_NET_OK);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_gso(&g_array_index(pkts, Pkt, 0), segs, 0, 1);
    pkts_free(pkts);
    send_gso_segs(&g, segs, 3, 2);
    expect_alone(&g, segs, 3);

    /* TSO without GUEST_CSUM: no NEEDS_CSUM, so no coalescing either */
    g_assert_cmpint(ctrl_offloads(net, alloc, tso), ==, VIRTIO_NET_OK);
    send_gso_segs(&g, segs, 2, 5);
    expect_alone(&g, segs, 2);

    /*
     * bit 61 belongs to RSC_EXT, which this guest did not negotiate: it is
     * ignored, as QEMU always did, and switches no RSC on
     */
    g_assert_cmpint(ctrl_offloads(net, alloc, csum | tso |
                                  (1ULL << VIRTIO_NET_F_RSC_EXT)),
                    ==, VIRTIO_NET_OK);
    send_gso_segs(&g, segs, 3, 7);
    expect_one_gso(&g, segs, 3);

    g_assert_cmpint(ctrl_offloads(net, alloc, csum | tso), ==, VIRTIO_NET_OK);
    send_gso_segs(&g, segs, 3, 10);
    expect_one_gso(&g, segs, 3);
}

/*
 * TSO switched off while a GSO packet waits for guest buffers: the guest
 * no longer takes GSO packets, so it gets the segments, as they were sent.
 */
static void test_gso_offloads_held(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    Guest g;
    Seg segs[3];
    GArray *pkts;

    guest_init(&g, net, ((RscTestArgs *)data)->sv[0], alloc, 256,
               MRG_BUF_SIZE);
    /* one buffer for the sync marker, one too few for the GSO packet */
    guest_post(&g, 2);
    send_gso_segs(&g, segs, 3, 0);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 0);
    pkts_free(pkts);

    g_assert_cmpint(ctrl_offloads(net, alloc,
                                  1ULL << VIRTIO_NET_F_GUEST_CSUM),
                    ==, VIRTIO_NET_OK);
    {
        Pkt p;
        g_assert_false(guest_poll(&g, &p));
    }
    guest_post(&g, 60);
    expect_alone(&g, segs, 3);
}

/*
 * Offloads the guest switched off stay off after migration: a Linux guest
 * does so for XDP, which drops GSO packets.
 */
static void test_gso_migrate_offloads(void *obj, void *data,
                                      QGuestAllocator *alloc)
{
    QVirtioNetPCI *dev = obj;
    QVirtioNet *net = &dev->net;
    QPCIBus *bus = dev->pci_vdev.pdev->bus;
    QTestState *from = global_qtest;
    const uint64_t csum = 1ULL << VIRTIO_NET_F_GUEST_CSUM;
    const uint64_t tso = (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
                         (1ULL << VIRTIO_NET_F_GUEST_TSO6);
    Migration m;
    Guest g;
    Seg segs[3];

    migration_prepare(&m);
    guest_start(&g, net, data, alloc);
    g_assert_cmpint(ctrl_offloads(net, alloc, csum), ==, VIRTIO_NET_OK);
    migration_run(&m, &g, bus);

    send_gso_segs(&g, segs, 3, 0);
    expect_alone(&g, segs, 3);

    /* and the guest can switch them on again at the destination */
    g_assert_cmpint(ctrl_offloads(net, alloc, csum | tso), ==, VIRTIO_NET_OK);
    send_gso_segs(&g, segs, 3, 3);
    expect_one_gso(&g, segs, 3);

    migration_end(&m, from, bus);
}

/*
 * A Windows guest that switched RSC off (bit 61 clear) finds it off after
 * migration, and can switch it on again there
 */
static void test_migrate_rsc_off(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    QVirtioNetPCI *dev = obj;
    QVirtioNet *net = &dev->net;
    QPCIBus *bus = dev->pci_vdev.pdev->bus;
    QTestState *from = global_qtest;
    const uint64_t base = (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
                          (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
                          (1ULL << VIRTIO_NET_F_GUEST_TSO6);
    Migration m;
    Guest g;
    Seg segs[6];
    GArray *pkts;

    migration_prepare(&m);
    guest_start(&g, net, data, alloc);
    g_assert_cmpint(ctrl_offloads(net, alloc, base), ==, VIRTIO_NET_OK);
    migration_run(&m, &g, bus);

    send_data_segs(&g, segs, 0, 3, false, true);
    expect_alone(&g, segs, 3);

    g_assert_cmpint(ctrl_offloads(net, alloc,
                                  base | (1ULL << VIRTIO_NET_F_RSC_EXT)),
                    ==, VIRTIO_NET_OK);
    send_data_segs(&g, segs, 3, 6, false, true);
    pkts = guest_step(&g, INTERVAL_NS);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 3, 5);
    pkts_free(pkts);

    migration_end(&m, from, bus);
}

/* Does the file @path hold the migration (sub)section named @name? */
static bool stream_has_subsection(const char *path, const char *name)
{
    g_autofree char *buf = NULL;
    g_autofree char *tag = g_strdup_printf("%c%s", (int)strlen(name), name);
    size_t n = strlen(tag);
    gsize len, i;

    g_assert(g_file_get_contents(path, &buf, &len, NULL));
    /* a (sub)section's name goes into the stream after its length byte */
    for (i = 0; i + n <= len; i++) {
        if (!memcmp(buf + i, tag, n)) {
            return true;
        }
    }
    return false;
}

/*
 * The subsections for held packets and for RSC switched off by the guest
 * are in the migration stream when they are needed, and never with
 * x-rsc-migrate=off (for a destination that does not know them; older
 * machine types, where this property is off): the guest has switched RSC
 * off while a packet waits for its buffers.
 */
static void test_migrate_stream(void *obj, void *data,
                                QGuestAllocator *alloc)
{
    QVirtioNetPCI *dev = obj;
    QVirtioNet *net = &dev->net;
    g_autofree char *dir = g_dir_make_tmp("rsc-stream-XXXXXX", NULL);
    g_autofree char *file = g_strdup_printf("%s/stream", dir);
    g_autofree char *uri = g_strdup_printf("file:%s", file);
    gint64 start = g_get_monotonic_time();
    bool migrate = device_prop_bool("x-rsc-migrate");
    QDict *rsp;
    Guest g;
    Seg segs[10];
    GArray *pkts;

    guest_init(&g, net, ((RscTestArgs *)data)->sv[0], alloc, 256,
               MRG_BUF_SIZE);
    /* one buffer for the sync marker, one too few for the packet */
    guest_post(&g, 2);
    send_data_segs(&g, segs, 0, 10, false, true);
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 0);
    pkts_free(pkts);
    g_assert_cmpint(ctrl_offloads(net, alloc,
                                  (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
                                  (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
                                  (1ULL << VIRTIO_NET_F_GUEST_TSO6)),
                    ==, VIRTIO_NET_OK);
    g_assert_cmpint(rsc_stat("refused"), >=, 1);

    rsp = qmp("{ 'execute': 'migrate', 'arguments': { 'uri': %s } }", uri);
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    rsc_wait_migrated(global_qtest, start);

    g_assert_cmpint(stream_has_subsection(file, "virtio-net-device/rsc"),
                    ==, migrate);
    g_assert_cmpint(stream_has_subsection(file,
                                          "virtio-net-device/rsc_ext_off"),
                    ==, migrate);
    /* the device is in the file: the test looks at the right stream */
    g_assert_true(stream_has_subsection(file, "0000:00:04.0/virtio-net"));
    unlink(file);
    rmdir(dir);
}

/*
 * A peer without virtio-net headers (the socket netdev): with RSC the
 * device offers GUEST_CSUM, GUEST_TSO4 and GUEST_TSO6 itself and
 * coalesces; with x-rsc-no-vnet-hdr=off (older machine types) it offers
 * what QEMU 10.0 did, RSC_EXT without them, so that a guest migrates to a
 * QEMU without the series, and nothing is coalesced.
 */
static void test_no_vnet_hdr(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    const uint64_t offloads = (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
                              (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
                              (1ULL << VIRTIO_NET_F_GUEST_TSO6);
    uint64_t features = qvirtio_get_features(net->vdev);
    bool own = device_prop_bool("x-rsc-no-vnet-hdr");
    Guest g;
    Seg segs[3];
    GArray *pkts;

    assert_rsc_offered(net, true);
    g_assert_cmphex(features & offloads, ==, own ? offloads : 0);

    guest_start(&g, net, data, alloc);
    send_data_segs(&g, segs, 0, 3, false, true);
    if (own) {
        pkts = guest_step(&g, INTERVAL_NS);
        g_assert_cmpint(pkts->len, ==, 1);
        assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 2);
        pkts_free(pkts);
    } else {
        /* at once, before any interval: nothing waits in a unit */
        expect_alone(&g, segs, 3);
    }
}

/* Without guest_rsc_ext frames and headers pass untouched */
static void test_off(void *obj, void *data, QGuestAllocator *alloc)
{
    Guest g;
    Seg segs[3];

    assert_rsc_offered(obj, false);
    guest_start(&g, obj, data, alloc);
    send_data_segs(&g, segs, 0, 3, false, true);
    expect_alone(&g, segs, 3);
}

/*
 * rsc_max_flows=2 bounds what a sender of many flows makes the device
 * hold: each new flow beyond two delivers the oldest unit at once, and
 * memory grows by two units' buffers at most
 */
static void test_flow_bound(void *obj, void *data, QGuestAllocator *alloc)
{
    uint8_t f[14 + 20 + 32 + MSS];
    int64_t memory = rsc_stat("memory");
    Seg segs[20];
    GArray *pkts;
    Guest g;
    int i;

    guest_start(&g, obj, data, alloc);
    for (i = 0; i < 20; i++) {
        segs[i] = data_seg(false, true, 0);
        segs[i].sport = 6000 + i;
        send_seg(&g, &segs[i]);
    }
    pkts = guest_sync(&g);
    g_assert_cmpint(pkts->len, ==, 18);
    for (i = 0; i < 18; i++) {
        assert_untouched(&g_array_index(pkts, Pkt, i), &segs[i]);
    }
    pkts_free(pkts);
    g_assert_cmpint(rsc_stat("evictions"), ==, 18);
    /* a buffer grows by doubling: less than twice the frame it holds */
    g_assert_cmpint(rsc_stat("memory") - memory, <=,
                    2 * 2 * build_frame(f, &segs[0]));

    pkts = guest_step(&g, INTERVAL_NS);
    g_assert_cmpint(pkts->len, ==, 2);
    assert_untouched(&g_array_index(pkts, Pkt, 0), &segs[18]);
    assert_untouched(&g_array_index(pkts, Pkt, 1), &segs[19]);
    pkts_free(pkts);
}

/* Without mergeable buffers a coalesced packet fills one big buffer */
static void test_no_mrg(void *obj, void *data, QGuestAllocator *alloc)
{
    Guest g;
    Seg segs[20];
    GArray *pkts;

    guest_init(&g, obj, ((RscTestArgs *)data)->sv[0], alloc, 8, BIG_BUF_SIZE);
    guest_post(&g, 8);
    send_data_segs(&g, segs, 0, 20, true, true);
    pkts = guest_step(&g, INTERVAL_NS);
    g_assert_cmpint(pkts->len, ==, 1);
    assert_coalesced(&g_array_index(pkts, Pkt, 0), segs, 0, 19);
    pkts_free(pkts);
}

/* Out-of-range properties fail with errors naming them */
static void test_properties(void *obj, void *data, QGuestAllocator *alloc)
{
    static const struct {
        const char *prop;
        int64_t value;
        const char *error;
    } bad[] = {
        { "rsc_max_flows", 0, "'rsc_max_flows' must be between 1 and 16384" },
        { "rsc_max_flows", 16385, "'rsc_max_flows' must be between 1 and" },
    };
    QDict *rsp;
    QList *props;
    QListEntry *e;
    bool found = false;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        QDict *args = qdict_from_jsonf_nofail(
            "{ 'driver': 'virtio-net-pci' }");
        const char *desc;

        qdict_put_int(args, bad[i].prop, bad[i].value);
        rsp = qmp("{ 'execute': 'device_add', 'arguments': %p }", args);
        g_assert(qdict_haskey(rsp, "error"));
        desc = qdict_get_str(qdict_get_qdict(rsp, "error"), "desc");
        g_assert(strstr(desc, bad[i].error));
        qobject_unref(rsp);
    }

    rsp = qmp("{ 'execute': 'device-list-properties', 'arguments': {"
              " 'typename': 'virtio-net-pci' } }");
    props = qdict_get_qlist(rsp, "return");
    QLIST_FOREACH_ENTRY(props, e) {
        QDict *p = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(p, "name"), "rsc_max_flows")) {
            g_assert(qdict_haskey(p, "description"));
            found = true;
        }
    }
    g_assert(found);
    qobject_unref(rsp);
}

/*
 * Malformed frames.  Any remote host can make the engine parse any frame
 * inside QEMU, so truncated, inconsistent or merely odd frames must
 * neither crash QEMU nor disturb the flows being coalesced.  Each phase
 * sends valid data segments of up to three flows interleaved with such
 * frames through the socket netdev and checks that the guest gets exactly
 * what a small model of the documented contract (include/net/rsc.h)
 * predicts: a frame that is not coalesced arrives byte for byte as sent
 * with an all-zero virtio-net header (the socket backend gives none), at
 * once if the engine bypasses it or after its flow's unit if it finalizes
 * one; the flows' segments arrive coalesced with their streams intact.
 * The phases run again with RSC switched off (bit 61 of
 * GUEST_OFFLOADS_SET), where every frame must arrive alone and at once:
 * what RSC does not coalesce it delivers exactly as virtio-net without
 * RSC does.
 *
 * virtio-net drops some frames whatever RSC does: receive_filter() in
 * hw/net/virtio-net.c runs before the engine and, unless the device is
 * promiscuous, drops frames shorter than an Ethernet header, VLAN frames
 * too short for the tag or with a VLAN ID the guest did not add
 * (VIRTIO_NET_F_CTRL_VLAN is negotiated), and unicast or multicast frames
 * for addresses the guest did not ask for.  A reset leaves the device
 * promiscuous, so runt frames reach the guest in the first phases; the
 * filter phase switches promiscuous mode off and checks the drops.
 *
 * The socket backend reassembles frames of up to NET_BUFSIZE (4096 +
 * 65536) bytes and closes the connection on a longer one (net_fill_rstate()
 * in net/net.c).  The size phase sends frames of exactly that size; the
 * test ends with one byte more, after which QEMU must still run.
 *
 * No empty frame is sent: virtio-net, RSC or not, gives the guest nothing
 * for it and returns its size, 0, which the net layer takes for "no room
 * now"; the frame stays at the head of the queue and no later frame of
 * that netdev ever arrives, even after the guest adds buffers.  That is
 * QEMU's behaviour without the series too.
 */

#define MAL_FLOWS       3       /* A: IPv4, B: IPv6, C: IPv4 without TS */
#define MAL_SEGS        64
#define MAL_BUFSIZE     (4096 + 65536)  /* NET_BUFSIZE */
#define MAL_PAD         0xee    /* Ethernet padding */

typedef enum MalKind {
    MAL_SEG,        /* data segment of a flow, part of its stream */
    MAL_DUP_ACK,    /* duplicate ACK of the flow's last segment */
    MAL_BYPASS,     /* nothing the engine can key: to the guest at once */
    MAL_FINALIZE,   /* keyed to a flow but never joins: after its unit */
    MAL_DROP,       /* dropped by virtio-net's receive filter */
} MalKind;

typedef struct MalFrame {
    MalKind kind;
    int flow;           /* MAL_SEG, MAL_DUP_ACK, MAL_FINALIZE */
    int seg;            /* MAL_SEG: index in Mal.segs[flow] */
    const char *what;
    uint8_t *data;
    size_t len;
} MalFrame;

/* One packet the guest should get: a frame as sent or a coalesced unit */
typedef struct MalOut {
    int frame;          /* index in Mal.frames; -1: coalesced unit */
    int flow;
    int first;
    int last;
} MalOut;

typedef struct MalUnit {
    bool open;
    int first;
    int last;
    uint32_t ip_len;
    int frame;          /* the first segment's frame */
    unsigned age;
} MalUnit;

typedef struct Mal {
    Guest g;
    GArray *frames;     /* MalFrame */
    Seg segs[MAL_FLOWS][MAL_SEGS];
    int nsegs[MAL_FLOWS];
} Mal;

/* The flow's next segment with @len payload bytes; not added to it */
static Seg mal_next(Mal *m, int flow, uint32_t len)
{
    int n = m->nsegs[flow];
    Seg s = {
        .ipv6 = flow == 1, .ts = flow != 2, .sport = 5001 + flow,
        .seq = 1000, .ack = 7000 + n, .win = 500 + n,
        .tsval = 100 + n, .tsecr = 50, .ip_id = 10 + n, .len = len,
    };

    if (n) {
        const Seg *prev = &m->segs[flow][n - 1];

        s.seq = prev->seq + prev->len;
        s.stream_off = prev->stream_off + prev->len;
    }
    return s;
}

/* The frame of @s in a buffer with @room bytes to spare after it */
static uint8_t *mal_build(const Seg *s, size_t room, size_t *len)
{
    uint8_t *f = g_malloc0(14 + 40 + 32 + s->len + room);

    *len = build_frame(f, s);
    return f;
}

static uint8_t *mal_frame(Mal *m, int flow, uint32_t len, size_t *flen)
{
    Seg s = mal_next(m, flow, len);

    return mal_build(&s, 0, flen);
}

static void mal_add(Mal *m, MalKind kind, int flow, const char *what,
                    uint8_t *data, size_t len)
{
    MalFrame fr = {
        .kind = kind, .flow = flow, .seg = -1, .what = what,
        .data = data, .len = len,
    };

    g_assert_cmpint(len, >, 0);
    g_assert_cmpint(len, <=, MAL_BUFSIZE);
    g_array_append_val(m->frames, fr);
}

/* Append the flow's next data segment, followed by @pad bytes of padding */
static void mal_seg(Mal *m, int flow, uint32_t len, size_t pad)
{
    Seg s = mal_next(m, flow, len);
    size_t flen;
    uint8_t *f = mal_build(&s, pad, &flen);

    g_assert_cmpint(m->nsegs[flow], <, MAL_SEGS);
    memset(f + flen, MAL_PAD, pad);
    m->segs[flow][m->nsegs[flow]] = s;
    mal_add(m, MAL_SEG, flow, pad ? "padded segment" : "segment", f,
            flen + pad);
    g_array_index(m->frames, MalFrame, m->frames->len - 1).seg =
        m->nsegs[flow]++;
}

/* A duplicate ACK of the flow's last segment */
static void mal_dup_ack(Mal *m, int flow)
{
    Seg s = m->segs[flow][m->nsegs[flow] - 1];
    size_t flen;
    uint8_t *f;

    s.seq += s.len;
    s.len = 0;
    f = mal_build(&s, 0, &flen);
    mal_add(m, MAL_DUP_ACK, flow, "duplicate ACK", f, flen);
}

/* @f with @n bytes of @ins inserted at @at */
static uint8_t *mal_insert(uint8_t *f, size_t *len, size_t at,
                           const uint8_t *ins, size_t n)
{
    uint8_t *r = g_malloc(*len + n);

    memcpy(r, f, at);
    memcpy(r + at, ins, n);
    memcpy(r + at + n, f + at, *len - at);
    g_free(f);
    *len += n;
    return r;
}

/* Insert @n bytes into the IP datagram of @f and grow its IP length */
static uint8_t *mal_grow(uint8_t *f, size_t *len, size_t at,
                         const uint8_t *ins, size_t n)
{
    f = mal_insert(f, len, at, ins, n);
    if (get16(f + 12) == 0x86dd) {
        put16(f + 18, get16(f + 18) + n);
    } else {
        put16(f + 16, get16(f + 16) + n);
    }
    return f;
}

static void ip4_fix_csum(uint8_t *f)
{
    size_t hl = (f[14] & 0xf) * 4;

    put16(f + 24, 0);
    put16(f + 24, csum_finish(csum_add(0, f + 14, hl)));
}

/* TCP checksum of the segment at @l4 up to the datagram's end @end */
static void tcp_fix_csum(uint8_t *f, size_t l4, size_t end)
{
    uint32_t sum;

    if (get16(f + 12) == 0x86dd) {
        sum = csum_add(0, f + 22, 32);
    } else {
        sum = csum_add(0, f + 26, 8);
    }
    sum += 6 + end - l4;
    put16(f + l4 + 16, 0);
    put16(f + l4 + 16, csum_finish(csum_add(sum, f + l4, end - l4)));
}

/* A segment of @flow whose TCP header carries the 12 option bytes @opt */
static uint8_t *mal_tcp_opts(Mal *m, int flow, const uint8_t *opt,
                             size_t n, size_t *len)
{
    Seg s = mal_next(m, flow, 64);
    size_t l4 = flow == 1 ? 54 : 34;
    uint8_t *f;

    s.ts = false;
    f = mal_build(&s, 0, len);
    f = mal_grow(f, len, l4 + 20, opt, n);
    f[l4 + 12] = ((20 + n) / 4) << 4;
    if (flow != 1) {
        ip4_fix_csum(f);
    }
    tcp_fix_csum(f, l4, *len);
    return f;
}

/* A segment of flow B behind the IPv6 extension headers @ext */
static uint8_t *mal_ipv6_ext(Mal *m, uint8_t first, const uint8_t *ext,
                             size_t n, size_t *len)
{
    uint8_t *f = mal_frame(m, 1, 64, len);

    f = mal_grow(f, len, 54, ext, n);
    f[20] = first;
    return f;
}

/* A broadcast ARP request from the peer */
static uint8_t *mal_arp(size_t *len)
{
    uint8_t *f = g_malloc0(14 + 28);

    memset(f, 0xff, 6);
    memcpy(f + 6, peer_mac, 6);
    put16(f + 12, 0x0806);
    put32(f + 14, 0x00010800);
    put16(f + 18, 0x0604);
    put16(f + 20, 1);
    memcpy(f + 22, peer_mac, 6);
    put32(f + 28, 0x0a000001);
    put32(f + 38, 0x0a000002);
    *len = 14 + 28;
    return f;
}

/*
 * Phase 1: frames the engine cannot key, each between a segment of flow A
 * (IPv4) and one of flow B (IPv6).  Most carry A's or B's addresses and
 * ports, so a parser that keyed them would end those flows' units: A and
 * B must each come out as one coalesced packet, after all the frames.
 */
static void mal_between(Mal *m, const char *what, uint8_t *f, size_t len)
{
    mal_seg(m, 0, MSS, 0);
    mal_add(m, MAL_BYPASS, -1, what, f, len);
    mal_seg(m, 1, MSS, 0);
}

static void mal_phase_bypass(Mal *m)
{
    static const uint8_t vlan[] = { 0x81, 0x00, 0x00, 0x05 };
    static const uint8_t qinq[] = { 0x88, 0xa8, 0x00, 0x05,
                                    0x81, 0x00, 0x00, 0x06 };
    static const uint8_t hbh_long[] = { 6, 200, 1, 4, 0, 0, 0, 0 };
    static const uint8_t hbh_none[] = { 59, 0, 1, 4, 0, 0, 0, 0 };
    static const uint8_t frag_later[] = { 6, 0, 0x00, 0x09, 0, 0, 0, 1 };
    static const uint8_t hbh_dst_udp[] = { 60, 0, 1, 4, 0, 0, 0, 0,
                                           17, 0, 1, 4, 0, 0, 0, 0 };
    static const uint8_t jumbo[] = { 6, 0, 0xc2, 4, 0, 0, 0x01, 0x00 };
    uint8_t dst9[9 * 8];
    uint8_t *f;
    size_t len;
    int i;

    f = mal_frame(m, 0, 64, &len);
    mal_between(m, "runt: 1 byte", f, 1);
    f = mal_frame(m, 0, 64, &len);
    mal_between(m, "runt: 13 bytes", f, 13);
    f = mal_frame(m, 0, 64, &len);
    mal_between(m, "Ethernet header only", f, 14);
    f = mal_frame(m, 0, 64, &len);
    mal_between(m, "IPv4 header truncated", f, 14 + 19);

    f = mal_frame(m, 0, 64, &len);
    f[14] = 0x65;
    ip4_fix_csum(f);
    mal_between(m, "IPv4 EtherType, IP version 6", f, len);
    f = mal_frame(m, 0, 64, &len);
    f[14] = 0x44;
    mal_between(m, "IPv4 IHL 4", f, len);
    f = mal_frame(m, 0, 64, &len);
    f[14] = 0x40;
    mal_between(m, "IPv4 IHL 0", f, len);
    f = mal_frame(m, 0, 64, &len);
    f[14] = 0x4f;
    put16(f + 16, 40);
    ip4_fix_csum(f);
    mal_between(m, "IPv4 IHL 15 past the total length", f, len);

    f = mal_frame(m, 0, 64, &len);
    put16(f + 16, get16(f + 16) + 1);
    ip4_fix_csum(f);
    mal_between(m, "IPv4 total length 1 past the frame", f, len);
    f = mal_frame(m, 0, 64, &len);
    put16(f + 16, 65535);
    ip4_fix_csum(f);
    mal_between(m, "IPv4 total length 65535, short frame", f, len);
    f = mal_frame(m, 0, 64, &len);
    put16(f + 16, 10);
    ip4_fix_csum(f);
    mal_between(m, "IPv4 total length shorter than the IP header", f, len);
    f = mal_frame(m, 0, 64, &len);
    put16(f + 16, 20 + 12);
    ip4_fix_csum(f);
    mal_between(m, "IPv4 datagram ends in the TCP header", f, len);
    f = mal_frame(m, 0, 64, &len);
    put16(f + 16, 20 + 12);
    ip4_fix_csum(f);
    mal_between(m, "TCP header truncated", f, 14 + 20 + 12);

    f = mal_frame(m, 0, 64, &len);
    f[34 + 12] = 4 << 4;
    mal_between(m, "TCP data offset 4", f, len);
    f = mal_frame(m, 0, 64, &len);
    f[34 + 12] = 0;
    mal_between(m, "TCP data offset 0", f, len);
    f = mal_frame(m, 0, 4, &len);
    f[34 + 12] = 15 << 4;
    mal_between(m, "TCP data offset 15 past the datagram", f, len);
    {
        Seg s = mal_next(m, 0, 0);

        s.ts = false;
        f = mal_build(&s, 0, &len);
        f[34 + 12] = 8 << 4;
        mal_between(m, "TCP data offset 8 past the frame", f, len);
    }

    f = mal_frame(m, 0, 64, &len);
    put16(f + 20, 185);
    ip4_fix_csum(f);
    mal_between(m, "IPv4 later fragment", f, len);
    f = mal_frame(m, 0, 64, &len);
    f[23] = 17;
    ip4_fix_csum(f);
    mal_between(m, "UDP", f, len);
    f = mal_frame(m, 0, 64, &len);
    f[23] = 1;
    f[34] = 8;
    ip4_fix_csum(f);
    mal_between(m, "ICMP", f, len);
    f = mal_arp(&len);
    mal_between(m, "ARP request", f, len);

    f = mal_frame(m, 0, 64, &len);
    f = mal_insert(f, &len, 12, vlan, sizeof(vlan));
    mal_between(m, "VLAN-tagged TCP segment", f, len);
    f = mal_frame(m, 0, 64, &len);
    f = mal_insert(f, &len, 12, qinq, sizeof(qinq));
    mal_between(m, "802.1ad double-tagged TCP segment", f, len);
    f = mal_frame(m, 0, 64, &len);
    put16(f + 12, 0x88b6);
    mal_between(m, "unknown EtherType", f, len);
    f = mal_frame(m, 0, 64, &len);
    put16(f + 12, len - 14);
    mal_between(m, "802.3 length field", f, len);
    f = mal_frame(m, 0, 64, &len);
    put16(f + 12, 0x86dd);
    mal_between(m, "IPv4 datagram with the IPv6 EtherType", f, len);

    /* padding behind a segment of each flow is not payload */
    mal_seg(m, 0, MSS, 18);
    mal_seg(m, 1, MSS, 18);

    f = mal_frame(m, 1, 64, &len);
    mal_between(m, "IPv6 header truncated", f, 14 + 39);
    f = mal_frame(m, 1, 64, &len);
    f[14] = 0x45;
    mal_between(m, "IPv6 EtherType, IP version 4", f, len);
    f = mal_frame(m, 1, 64, &len);
    put16(f + 18, get16(f + 18) + 1);
    mal_between(m, "IPv6 payload length 1 past the frame", f, len);
    f = mal_frame(m, 1, 64, &len);
    put16(f + 18, 12);
    mal_between(m, "IPv6 payload ends in the TCP header", f, len);
    f = mal_frame(m, 1, 64, &len);
    put16(f + 18, 0);
    mal_between(m, "IPv6 payload length 0", f, len);
    f = mal_ipv6_ext(m, 0, hbh_long, sizeof(hbh_long), &len);
    mal_between(m, "IPv6 hop-by-hop header past the datagram", f, len);
    f = mal_ipv6_ext(m, 0, hbh_long, sizeof(hbh_long), &len);
    put16(f + 18, 4);
    mal_between(m, "IPv6 hop-by-hop header truncated", f, len);
    f = mal_ipv6_ext(m, 0, hbh_none, sizeof(hbh_none), &len);
    mal_between(m, "IPv6 hop-by-hop, no next header", f, len);
    f = mal_ipv6_ext(m, 44, frag_later, sizeof(frag_later), &len);
    mal_between(m, "IPv6 later fragment", f, len);
    f = mal_ipv6_ext(m, 0, hbh_dst_udp, sizeof(hbh_dst_udp), &len);
    mal_between(m, "IPv6 hop-by-hop, destination options, UDP", f, len);
    f = mal_ipv6_ext(m, 0, jumbo, sizeof(jumbo), &len);
    put16(f + 18, 0);
    mal_between(m, "IPv6 jumbo payload option, payload length 0", f, len);
    f = mal_frame(m, 1, 64, &len);
    f[20] = 58;
    mal_between(m, "ICMPv6", f, len);
    f = mal_frame(m, 1, 64, &len);
    f[20] = 17;
    mal_between(m, "UDP over IPv6", f, len);
    f = mal_frame(m, 1, 0, &len);
    f = mal_grow(f, &len, 54, hbh_none, 8);
    f[54] = 6;
    f[20] = 60;
    put16(f + 18, 8);
    mal_between(m, "IPv6 destination options, TCP header missing", f, len);

    /*
     * Nine destination options headers: whether the engine follows that
     * many or gives up is its choice, so this frame has ports of its own.
     */
    for (i = 0; i < 9; i++) {
        static const uint8_t dst[] = { 60, 0, 1, 4, 0, 0, 0, 0 };

        memcpy(dst9 + 8 * i, dst, 8);
    }
    dst9[8 * 8] = 6;
    f = mal_ipv6_ext(m, 60, dst9, sizeof(dst9), &len);
    put16(f + 14 + 40 + sizeof(dst9), 6002);
    tcp_fix_csum(f, 14 + 40 + sizeof(dst9), len);
    mal_between(m, "IPv6 chain of 9 destination options headers", f, len);
    mal_seg(m, 0, MSS, 0);
}

/*
 * Phase 2: frames keyed to a flow that must not join it (rsc.h: IPv4
 * options, fragments, bad checksums, options other than timestamps, IPv6
 * extension headers, odd flags, other pure ACKs): the flow's unit goes out
 * first, then the frame, untouched.  Zero-length payloads: a duplicate ACK
 * closes the unit and follows it alone, as does a pure ACK of a flow with
 * no unit.
 */
static void mal_fin(Mal *m, int flow, const char *what, uint8_t *f,
                    size_t len)
{
    mal_seg(m, flow, MSS, 0);
    mal_seg(m, flow, MSS, 0);
    mal_add(m, MAL_FINALIZE, flow, what, f, len);
}

static void mal_phase_finalize(Mal *m)
{
    static const uint8_t ip_opt[] = { 1, 1, 1, 0 };
    static const uint8_t ip_opt_long[] = { 0x44, 40, 5, 0 };
    static const uint8_t ts_past[] = { 1, 1, 1, 1, 1, 1, 8, 10, 0, 0, 0, 0 };
    static const uint8_t mss_past[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                        2, 4 };
    static const uint8_t sack_past[] = { 1, 1, 5, 34, 0, 0, 0, 0,
                                         0, 0, 0, 0 };
    static const uint8_t len0[] = { 3, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    static const uint8_t len1[] = { 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    static const uint8_t ts9[] = { 1, 1, 8, 9, 0, 0, 0, 1, 0, 0, 0, 1 };
    static const uint8_t ts2[] = { 1, 1, 8, 10, 0, 0, 0, 200, 0, 0, 0, 50,
                                   1, 1, 8, 10, 0, 0, 0, 201, 0, 0, 0, 50 };
    static const uint8_t hbh[] = { 6, 0, 1, 4, 0, 0, 0, 0 };
    static const uint8_t chain[] = {
        43, 0, 1, 4, 0, 0, 0, 0,        /* hop-by-hop, PadN */
        44, 0, 253, 0, 0, 0, 0, 0,      /* routing, segments left 0 */
        60, 0, 0, 0, 0, 0, 0, 7,        /* fragment 0, last */
        6, 0, 1, 4, 0, 0, 0, 0,         /* destination options */
    };
    static const uint8_t frag_first[] = { 6, 0, 0, 1, 0, 0, 0, 8 };
    uint8_t *f;
    size_t len;

    f = mal_frame(m, 0, 64, &len);
    f = mal_grow(f, &len, 34, ip_opt, sizeof(ip_opt));
    f[14] = 0x46;
    ip4_fix_csum(f);
    mal_fin(m, 0, "IPv4 options", f, len);
    f = mal_frame(m, 0, 64, &len);
    f = mal_grow(f, &len, 34, ip_opt_long, sizeof(ip_opt_long));
    f[14] = 0x46;
    ip4_fix_csum(f);
    mal_fin(m, 0, "IPv4 option past the header", f, len);
    f = mal_frame(m, 0, 64, &len);
    f[20] |= 0x20;
    ip4_fix_csum(f);
    mal_fin(m, 0, "IPv4 first fragment", f, len);
    f = mal_frame(m, 0, 64, &len);
    f[24] ^= 0x55;
    mal_fin(m, 0, "IPv4 header checksum wrong", f, len);

    mal_seg(m, 0, MSS, 0);
    f = mal_frame(m, 0, MSS, &len);
    f[34 + 16] ^= 0x55;
    mal_add(m, MAL_FINALIZE, 0, "next segment, TCP checksum wrong", f, len);

    f = mal_tcp_opts(m, 0, ts_past, sizeof(ts_past), &len);
    mal_fin(m, 0, "TCP timestamp option past the header", f, len);
    f = mal_tcp_opts(m, 0, mss_past, sizeof(mss_past), &len);
    mal_fin(m, 0, "TCP MSS option past the header", f, len);
    f = mal_tcp_opts(m, 0, sack_past, sizeof(sack_past), &len);
    mal_fin(m, 0, "TCP SACK option past the header", f, len);
    f = mal_tcp_opts(m, 0, len0, sizeof(len0), &len);
    mal_fin(m, 0, "TCP option of length 0", f, len);
    f = mal_tcp_opts(m, 0, len1, sizeof(len1), &len);
    mal_fin(m, 0, "TCP option of length 1", f, len);
    f = mal_tcp_opts(m, 0, ts9, sizeof(ts9), &len);
    mal_fin(m, 0, "TCP timestamp option of length 9", f, len);
    f = mal_tcp_opts(m, 0, ts2, sizeof(ts2), &len);
    mal_fin(m, 0, "two TCP timestamp options", f, len);
    f = mal_frame(m, 0, 64, &len);
    f[34 + 13] = 0x3f;
    tcp_fix_csum(f, 34, len);
    mal_fin(m, 0, "TCP flags FIN SYN RST PSH ACK URG", f, len);

    mal_seg(m, 0, MSS, 0);
    mal_dup_ack(m, 0);
    mal_dup_ack(m, 0);
    mal_seg(m, 0, MSS, 0);
    {
        Seg s = mal_next(m, 0, 0);

        s.ack += 1000;
        f = mal_build(&s, 0, &len);
        mal_fin(m, 0, "pure ACK acknowledging more", f, len);
    }

    f = mal_ipv6_ext(m, 0, hbh, sizeof(hbh), &len);
    mal_fin(m, 1, "IPv6 hop-by-hop, TCP", f, len);
    f = mal_ipv6_ext(m, 0, chain, sizeof(chain), &len);
    mal_fin(m, 1, "IPv6 hop-by-hop, routing, fragment, destination "
            "options, TCP", f, len);
    f = mal_ipv6_ext(m, 44, frag_first, sizeof(frag_first), &len);
    mal_fin(m, 1, "IPv6 first fragment", f, len);
    f = mal_tcp_opts(m, 1, ts_past, sizeof(ts_past), &len);
    mal_fin(m, 1, "IPv6, TCP timestamp option past the header", f, len);
    mal_seg(m, 1, MSS, 0);
    f = mal_frame(m, 1, MSS, &len);
    f[54 + 16] ^= 0x55;
    mal_add(m, MAL_FINALIZE, 1, "IPv6 next segment, TCP checksum wrong",
            f, len);

    /* no timestamps: a duplicate ACK closes the unit, no ACK opens one */
    mal_seg(m, 2, MSS, 0);
    mal_dup_ack(m, 2);
    f = mal_frame(m, 2, 0, &len);
    f[34 + 13] = 0;
    tcp_fix_csum(f, 34, len);
    mal_add(m, MAL_FINALIZE, 2, "TCP flags 0, no payload", f, len);
    mal_dup_ack(m, 2);
    mal_seg(m, 0, MSS, 0);
    mal_seg(m, 1, MSS, 0);
}

/*
 * Phase 3: sizes.  The largest segment a unit holds (an IPv4 datagram of
 * 65535 bytes, a frame of NET_RSC_BUF_MAX bytes) starts a unit nothing can
 * join; two segments fill a unit to exactly 65535 bytes of datagram; frames
 * of NET_BUFSIZE bytes, the most the socket backend passes on, keyed to a
 * flow (too big for a unit) and not; an IPv6 payload of 65535 bytes.
 */
static void mal_phase_sizes(Mal *m)
{
    uint8_t *f;
    size_t len, i;
    Seg s;

    mal_seg(m, 2, 65535 - 40, 0);
    mal_seg(m, 2, MSS, 0);
    mal_seg(m, 0, MSS, 0);
    mal_seg(m, 0, 65535 - 52 - MSS, 0);
    mal_seg(m, 0, MSS, 0);

    s = mal_next(m, 0, 65535 - 52);
    f = mal_build(&s, MAL_BUFSIZE - (14 + 65535), &len);
    memset(f + len, MAL_PAD, MAL_BUFSIZE - len);
    mal_add(m, MAL_FINALIZE, 0, "IPv4 segment of 65535, padded to "
            "NET_BUFSIZE", f, MAL_BUFSIZE);

    f = g_malloc(MAL_BUFSIZE);
    memcpy(f, guest_mac, 6);
    memcpy(f + 6, peer_mac, 6);
    put16(f + 12, 0x88b6);
    for (i = 14; i < MAL_BUFSIZE; i++) {
        f[i] = pattern(i);
    }
    mal_add(m, MAL_BYPASS, -1, "non-IP frame of NET_BUFSIZE", f,
            MAL_BUFSIZE);

    mal_seg(m, 1, MSS, 0);
    f = mal_frame(m, 1, 65535 - 32, &len);
    mal_add(m, MAL_FINALIZE, 1, "IPv6 payload of 65535", f, len);
    mal_seg(m, 1, MSS, 0);
}

/*
 * Phase 4, promiscuous mode off: virtio-net's receive filter drops frames
 * before the engine sees them.  Segments of flow A around the dropped ones
 * coalesce into one packet; the dropped "next segments" would end A's
 * unit had they reached the engine.
 */
static void mal_phase_filter(Mal *m)
{
    static const uint8_t vlan5[] = { 0x81, 0x00, 0x00, 0x05 };
    static const uint8_t vlan6[] = { 0x81, 0x00, 0x00, 0x06 };
    static const uint8_t mcast[] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
    uint8_t *f;
    size_t len;

    mal_seg(m, 0, MSS, 0);
    f = mal_frame(m, 0, 64, &len);
    mal_add(m, MAL_DROP, -1, "runt: 13 bytes", f, 13);
    mal_seg(m, 0, MSS, 0);
    f = mal_frame(m, 0, MSS, &len);
    f[5] ^= 1;
    mal_add(m, MAL_DROP, -1, "next segment, other unicast MAC", f, len);
    mal_seg(m, 0, MSS, 0);
    f = mal_frame(m, 0, MSS, &len);
    memcpy(f, mcast, 6);
    mal_add(m, MAL_DROP, -1, "next segment, multicast MAC", f, len);
    mal_seg(m, 0, MSS, 0);
    f = mal_frame(m, 0, MSS, &len);
    f = mal_insert(f, &len, 12, vlan6, sizeof(vlan6));
    mal_add(m, MAL_DROP, -1, "next segment, VLAN 6 (not added)", f, len);
    mal_seg(m, 0, MSS, 0);
    f = mal_frame(m, 0, MSS, &len);
    f = mal_insert(f, &len, 12, vlan6, sizeof(vlan6));
    mal_add(m, MAL_DROP, -1, "VLAN tag truncated", f, 15);
    mal_seg(m, 0, MSS, 0);
    f = mal_arp(&len);
    mal_add(m, MAL_BYPASS, -1, "broadcast ARP request", f, len);
    mal_seg(m, 0, MSS, 0);
    f = mal_frame(m, 0, MSS, &len);
    f = mal_insert(f, &len, 12, vlan5, sizeof(vlan5));
    mal_add(m, MAL_BYPASS, -1, "next segment, VLAN 5 (added)", f, len);
    mal_seg(m, 0, MSS, 0);
}

static void mal_close(GArray *out, MalUnit *u, int flow)
{
    MalOut o = {
        .frame = -1, .flow = flow, .first = u->first, .last = u->last,
    };

    if (!u->open) {
        return;
    }
    if (u->first == u->last) {
        /* a unit of one frame leaves as the frame came */
        o.frame = u->frame;
    }
    g_array_append_val(out, o);
    u->open = false;
}

/*
 * The contract as a model: what the guest gets at once (@now) and when
 * the units left open expire, oldest first (@later).  Without RSC every
 * frame the filter lets through arrives alone and at once.
 */
static void mal_model(Mal *m, bool rsc, GArray *now, GArray *later)
{
    MalUnit units[MAL_FLOWS] = { 0 };
    unsigned age = 0;
    guint i;
    int f;

    for (i = 0; i < m->frames->len; i++) {
        const MalFrame *fr = &g_array_index(m->frames, MalFrame, i);
        MalUnit *u = fr->flow >= 0 ? &units[fr->flow] : NULL;
        MalOut alone = { .frame = i };
        const Seg *s;

        if (fr->kind == MAL_DROP) {
            continue;
        }
        if (!rsc || fr->kind == MAL_BYPASS) {
            g_array_append_val(now, alone);
            continue;
        }
        switch (fr->kind) {
        case MAL_SEG:
            s = &m->segs[fr->flow][fr->seg];
            if (u->open && fr->seg == u->last + 1 &&
                u->ip_len + s->len <= 65535) {
                u->last = fr->seg;
                u->ip_len += s->len;
                break;
            }
            mal_close(now, u, fr->flow);
            *u = (MalUnit) {
                .open = true, .first = fr->seg, .last = fr->seg,
                .ip_len = (s->ipv6 ? 40 : 20) + (s->ts ? 32 : 20) + s->len,
                .frame = i, .age = age++,
            };
            break;
        case MAL_DUP_ACK:
        case MAL_FINALIZE:
            mal_close(now, u, fr->flow);
            g_array_append_val(now, alone);
            break;
        default:
            g_assert_not_reached();
        }
    }
    for (;;) {
        int oldest = -1;

        for (f = 0; f < MAL_FLOWS; f++) {
            if (units[f].open &&
                (oldest < 0 || units[f].age < units[oldest].age)) {
                oldest = f;
            }
        }
        if (oldest < 0) {
            break;
        }
        mal_close(later, &units[oldest], oldest);
    }
}

static void mal_describe(Mal *m, const MalOut *o, char *buf, size_t n)
{
    if (o->frame >= 0) {
        const MalFrame *fr = &g_array_index(m->frames, MalFrame, o->frame);

        g_snprintf(buf, n, "frame %d \"%s\", %zu bytes", o->frame, fr->what,
                   fr->len);
    } else {
        g_snprintf(buf, n, "flow %c segments %d..%d", 'A' + o->flow,
                   o->first, o->last);
    }
}

/* A packet as the guest gets a frame that was not coalesced */
static void assert_frame(const Pkt *p, const uint8_t *f, size_t len)
{
    g_assert_cmpint(p->hdr.flags, ==, 0);
    g_assert_cmpint(p->hdr.gso_type, ==, VIRTIO_NET_HDR_GSO_NONE);
    g_assert_cmpint(p->hdr.hdr_len, ==, 0);
    g_assert_cmpint(p->hdr.gso_size, ==, 0);
    g_assert_cmpint(p->hdr.csum_start, ==, 0);
    g_assert_cmpint(p->hdr.csum_offset, ==, 0);
    g_assert_cmpint(p->num_buffers, ==,
                    DIV_ROUND_UP(GUEST_HDR_LEN + len, MRG_BUF_SIZE));
    g_assert_cmpint(p->len, ==, len);
    g_assert(memcmp(p->data, f, len) == 0);
}

/*
 * Compare what the guest got with what the model wants; on a difference
 * say which frames are concerned before the assertions fail.
 */
static void mal_check(Mal *m, GArray *pkts, GArray *exp, const char *when)
{
    char want[160], got[80];
    guint i;

    for (i = 0; i < MAX(pkts->len, exp->len); i++) {
        const MalOut *o = NULL;
        const MalFrame *fr = NULL;
        const Pkt *p = NULL;
        bool ok;

        if (i < exp->len) {
            o = &g_array_index(exp, MalOut, i);
            if (o->frame >= 0) {
                fr = &g_array_index(m->frames, MalFrame, o->frame);
            }
        }
        if (i < pkts->len) {
            p = &g_array_index(pkts, Pkt, i);
        }
        if (!o || !p) {
            ok = false;
        } else if (fr) {
            ok = p->len == fr->len && !memcmp(p->data, fr->data, fr->len) &&
                 !p->hdr.flags;
        } else {
            ok = (p->hdr.flags & VIRTIO_NET_HDR_F_RSC_INFO) &&
                 p->hdr.csum_start == o->last - o->first + 1;
        }
        if (ok && pkts->len == exp->len) {
            continue;
        }
        if (o) {
            mal_describe(m, o, want, sizeof(want));
        } else {
            g_strlcpy(want, "nothing", sizeof(want));
        }
        if (p) {
            g_snprintf(got, sizeof(got), "%zu bytes, flags %u, segments %u",
                       p->len, p->hdr.flags, p->hdr.csum_start);
        } else {
            g_strlcpy(got, "nothing", sizeof(got));
        }
        g_test_message("%s, packet %u%s: want %s; got %s", when, i,
                       ok ? "" : " DIFFERS", want, got);
    }
    g_assert_cmpint(pkts->len, ==, exp->len);
    for (i = 0; i < pkts->len; i++) {
        const MalOut *o = &g_array_index(exp, MalOut, i);
        const Pkt *p = &g_array_index(pkts, Pkt, i);

        if (o->frame >= 0) {
            const MalFrame *fr = &g_array_index(m->frames, MalFrame,
                                                o->frame);

            assert_frame(p, fr->data, fr->len);
        } else {
            assert_coalesced(p, m->segs[o->flow], o->first, o->last);
        }
    }
}

/* Send the frames a phase builds and check what the guest gets */
static void mal_run(Mal *m, bool rsc, void (*phase)(Mal *), const char *name)
{
    g_autofree char *now_when = g_strdup_printf("%s, RSC %s, at once",
                                                name, rsc ? "on" : "off");
    g_autofree char *later_when = g_strdup_printf("%s, RSC %s, later",
                                                  name, rsc ? "on" : "off");
    GArray *now = g_array_new(false, false, sizeof(MalOut));
    GArray *later = g_array_new(false, false, sizeof(MalOut));
    GArray *pkts;
    guint i;

    m->frames = g_array_new(false, false, sizeof(MalFrame));
    memset(m->nsegs, 0, sizeof(m->nsegs));
    phase(m);
    mal_model(m, rsc, now, later);

    guest_post(&m->g, m->g.vq->size - (uint16_t)(m->g.avail_idx -
                                                 m->g.used_idx));
    for (i = 0; i < m->frames->len; i++) {
        const MalFrame *fr = &g_array_index(m->frames, MalFrame, i);

        send_frame(&m->g, fr->data, fr->len);
    }
    pkts = guest_sync(&m->g);
    mal_check(m, pkts, now, now_when);
    pkts_free(pkts);
    pkts = guest_step(&m->g, INTERVAL_NS);
    mal_check(m, pkts, later, later_when);
    pkts_free(pkts);

    for (i = 0; i < m->frames->len; i++) {
        g_free(g_array_index(m->frames, MalFrame, i).data);
    }
    g_array_free(m->frames, true);
    g_array_free(now, true);
    g_array_free(later, true);
}

static void mal_promisc(QVirtioNet *net, QGuestAllocator *alloc, bool on)
{
    uint8_t v = on;

    g_assert_cmpint(ctrl_cmd(net, alloc, VIRTIO_NET_CTRL_RX,
                             VIRTIO_NET_CTRL_RX_PROMISC, &v, 1), ==,
                    VIRTIO_NET_OK);
}

static void malformed(QVirtioNet *net, RscTestArgs *args,
                      QGuestAllocator *alloc, int64_t release_ns)
{
    static const struct {
        void (*fn)(Mal *m);
        const char *name;
    } phases[] = {
        { mal_phase_bypass, "unkeyable frames" },
        { mal_phase_finalize, "keyed frames that must not join" },
        { mal_phase_sizes, "sizes" },
        { mal_phase_filter, "receive filter" },
    };
    const uint64_t base = (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
                          (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
                          (1ULL << VIRTIO_NET_F_GUEST_TSO6);
    uint16_t vid = cpu_to_le16(5);
    struct timeval tv = { .tv_sec = RX_TIMEOUT_US / 1000000 };
    g_autofree uint8_t *big = g_malloc0(MAL_BUFSIZE + 1);
    g_autofree Mal *m = g_new0(Mal, 1);
    gint64 start;
    QDict *rsp;
    Seg s;
    Pkt p;
    size_t i;
    int rsc;
    char c;

    guest_init(&m->g, net, args->sv[0], alloc, 256, MRG_BUF_SIZE);
    guest_post(&m->g, 16);
    if (release_ns) {
        GArray *pkts;
        uint8_t *f = mal_arp(&i);

        /* the filter holds what QEMU read until virtual time passes */
        send_frame(&m->g, f, i);
        g_assert_true(guest_wait_read(&m->g));
        g_assert_false(guest_poll(&m->g, &p));
        m->g.release_ns = release_ns;
        pkts = guest_sync(&m->g);
        g_assert_cmpint(pkts->len, ==, 1);
        assert_frame(&g_array_index(pkts, Pkt, 0), f, i);
        pkts_free(pkts);
        g_free(f);
    }
    g_assert_cmpint(ctrl_cmd(net, alloc, VIRTIO_NET_CTRL_VLAN,
                             VIRTIO_NET_CTRL_VLAN_ADD, &vid, sizeof(vid)),
                    ==, VIRTIO_NET_OK);
    for (rsc = 1; rsc >= 0; rsc--) {
        g_assert_cmpint(ctrl_offloads(net, alloc, base |
                                      ((uint64_t)rsc << VIRTIO_NET_F_RSC_EXT)),
                        ==, VIRTIO_NET_OK);
        for (i = 0; i < ARRAY_SIZE(phases); i++) {
            bool filter = phases[i].fn == mal_phase_filter;

            if (filter) {
                mal_promisc(net, alloc, false);
            }
            mal_run(m, rsc, phases[i].fn, phases[i].name);
            if (filter) {
                mal_promisc(net, alloc, true);
            }
        }
    }

    /*
     * One byte past NET_BUFSIZE: the socket backend closes the connection
     * (and prints "oversized packet received").  QEMU keeps running, and
     * the segment the engine holds still reaches the guest.
     */
    g_assert_cmpint(ctrl_offloads(net, alloc,
                                  base | (1ULL << VIRTIO_NET_F_RSC_EXT)),
                    ==, VIRTIO_NET_OK);
    s = data_seg(false, true, 0);
    send_seg(&m->g, &s);
    memcpy(big, guest_mac, 6);
    memcpy(big + 6, peer_mac, 6);
    put16(big + 12, 0x88b6);
    send_frame(&m->g, big, MAL_BUFSIZE + 1);
    close(args->sv[1]);
    args->sv[1] = -1;
    g_assert_cmpint(setsockopt(args->sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv,
                               sizeof(tv)), ==, 0);
    g_assert_cmpint(recv(args->sv[0], &c, 1, 0), ==, 0);

    if (release_ns) {
        qtest_clock_step(global_qtest, release_ns);
    }
    qtest_clock_step(global_qtest, INTERVAL_NS);
    start = g_get_monotonic_time();
    while (!guest_poll(&m->g, &p)) {
        g_assert_cmpint(g_get_monotonic_time() - start, <=, RX_TIMEOUT_US);
        g_usleep(1000);
    }
    assert_untouched(&p, &s);
    pkt_free(&p);
    rsp = qmp("{ 'execute': 'query-status' }");
    g_assert(qdict_get_bool(qdict_get_qdict(rsp, "return"), "running"));
    qobject_unref(rsp);
}

static void test_malformed(void *obj, void *data, QGuestAllocator *alloc)
{
    malformed(obj, data, alloc, 0);
}

/*
 * The same through a filter-buffer, which copies every frame into a heap
 * block of the frame's size: under AddressSanitizer a read past the end of
 * a frame is then caught, where the socket backend's 69632-byte receive
 * buffer would hide it.
 */
static void test_malformed_buffered(void *obj, void *data,
                                    QGuestAllocator *alloc)
{
#ifdef CONFIG_LINUX
    malformed(obj, data, alloc, 1000);
#else
    g_test_skip("needs SIOCOUTQ");
#endif
}

/*
 * Replay of real traces: every frame of a pcap goes through the device in
 * order, with the virtual clock following the capture's timestamps.  The
 * payload byte stream of every TCP flow must reach the guest unchanged.
 */

typedef struct Flow {
    GByteArray *in;
    GByteArray *out;
    unsigned segs_in;
    unsigned pkts_out;
} Flow;

typedef struct Replay {
    GHashTable *flows;      /* "src>dst" -> Flow */
    unsigned frames_in;
    unsigned pkts_out;
    unsigned data_in;
    unsigned data_out;
    unsigned rsc_info;
} Replay;

static void flow_free(gpointer p)
{
    Flow *f = p;

    g_byte_array_unref(f->in);
    g_byte_array_unref(f->out);
    g_free(f);
}

/* TCP flow name and payload of a frame, if it is IPv4/IPv6 TCP */
static bool parse_tcp(const uint8_t *f, size_t len, char *name, size_t nlen,
                      const uint8_t **payload, size_t *plen)
{
    size_t l4, end;
    char src[64], dst[64];

    if (len < 14) {
        return false;
    }
    if (get16(f + 12) == 0x0800 && len >= 34 && f[23] == 6) {
        l4 = 14 + (f[14] & 0xf) * 4;
        end = 14 + get16(f + 16);
        inet_ntop(AF_INET, f + 26, src, sizeof(src));
        inet_ntop(AF_INET, f + 30, dst, sizeof(dst));
    } else if (get16(f + 12) == 0x86dd && len >= 54 && f[20] == 6) {
        l4 = 54;
        end = 54 + get16(f + 18);
        inet_ntop(AF_INET6, f + 22, src, sizeof(src));
        inet_ntop(AF_INET6, f + 38, dst, sizeof(dst));
    } else {
        return false;
    }
    if (end > len || l4 + 20 > end || l4 + (f[l4 + 12] >> 4) * 4 > end) {
        return false;
    }
    snprintf(name, nlen, "%s:%u>%s:%u", src, get16(f + l4), dst,
             get16(f + l4 + 2));
    *payload = f + l4 + (f[l4 + 12] >> 4) * 4;
    *plen = end - (*payload - f);
    return true;
}

static Flow *replay_flow(Replay *r, const char *name)
{
    Flow *fl = g_hash_table_lookup(r->flows, name);

    if (!fl) {
        fl = g_new0(Flow, 1);
        fl->in = g_byte_array_new();
        fl->out = g_byte_array_new();
        g_hash_table_insert(r->flows, g_strdup(name), fl);
    }
    return fl;
}

static void replay_account_out(Replay *r, GArray *pkts)
{
    guint i;

    for (i = 0; i < pkts->len; i++) {
        Pkt *p = &g_array_index(pkts, Pkt, i);
        const uint8_t *payload;
        size_t plen;
        char name[160];

        r->pkts_out++;
        if (p->hdr.flags & VIRTIO_NET_HDR_F_RSC_INFO) {
            r->rsc_info++;
        }
        if (parse_tcp(p->data, p->len, name, sizeof(name), &payload, &plen)
            && plen) {
            Flow *fl = replay_flow(r, name);

            r->data_out++;
            fl->pkts_out++;
            g_byte_array_append(fl->out, payload, plen);
        }
    }
}

/* CPU time QEMU has used so far, in ns (0 where /proc is not there) */
static int64_t qemu_cpu_ns(QTestState *qts)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", qtest_pid(qts));
    g_autofree char *stat = NULL;
    unsigned long utime, stime;
    char *p;

    if (!g_file_get_contents(path, &stat, NULL, NULL)) {
        return 0;
    }
    /* the fields after the command name, which may contain spaces */
    p = strrchr(stat, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                     "%lu %lu", &utime, &stime) != 2) {
        return 0;
    }
    return (int64_t)(utime + stime) * (1000000000 / sysconf(_SC_CLK_TCK));
}

/*
 * Replay @file @repeat times, pacing frames by their capture time with the
 * virtual clock.  @strict: every flow's byte stream must arrive intact (a
 * benchmark run of another QEMU only reports whether it did).
 */
static void replay_trace(Guest *g, const char *file, FILE *report,
                         unsigned repeat, bool strict)
{
    g_autofree uint8_t *pcap = NULL;
    g_autoptr(GError) err = NULL;
    gsize size, off = 24;
    Replay r = { 0 };
    int64_t cpu_ns = qemu_cpu_ns(g->qts);
    uint64_t bytes_out = 0;
    bool nsec;
    int64_t last_ns = -1;
    GHashTableIter it;
    gpointer key, value;
    GArray *pkts;
    uint32_t magic;
    bool all_ok = true;
    const char *sep = "";

    g_assert(g_file_get_contents(file, (char **)&pcap, &size, &err));
    g_assert_cmpint(size, >=, 24);
    memcpy(&magic, pcap, 4);
    g_assert(magic == 0xa1b2c3d4 || magic == 0xa1b23c4d);
    nsec = magic == 0xa1b23c4d;
    r.flows = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                    flow_free);

    while (repeat && off + 16 > size) {
        off = 24;
        repeat--;
    }
    while (repeat && off + 16 <= size) {
        uint32_t hdr[4], caplen;
        int64_t ts;
        const uint8_t *f, *payload;
        size_t plen;
        char name[160];

        memcpy(hdr, pcap + off, 16);
        caplen = hdr[2];
        g_assert_cmpint(off + 16 + caplen, <=, size);
        f = pcap + off + 16;
        off += 16 + caplen;
        ts = (int64_t)hdr[0] * 1000000000 + hdr[1] * (nsec ? 1 : 1000);

        if (last_ns >= 0 && ts > last_ns) {
            /* everything sent so far is in; now let time pass */
            pkts = guest_sync(g);
            replay_account_out(&r, pkts);
            pkts_free(pkts);
            guest_post(g, g->vq->size - (uint16_t)(g->avail_idx -
                                                   g->used_idx));
            qtest_clock_step(g->qts, ts - last_ns);
        }
        last_ns = ts;

        r.frames_in++;
        if (parse_tcp(f, caplen, name, sizeof(name), &payload, &plen) &&
            plen) {
            Flow *fl = replay_flow(&r, name);

            r.data_in++;
            fl->segs_in++;
            g_byte_array_append(fl->in, payload, plen);
        }
        send_frame(g, f, caplen);
        if (off + 16 > size && --repeat) {
            off = 24;
        }
    }
    pkts = guest_step(g, 1000000000);
    replay_account_out(&r, pkts);
    pkts_free(pkts);
    cpu_ns = qemu_cpu_ns(g->qts) - cpu_ns;

    fprintf(report, "{\"trace\": \"%s\", \"frames_in\": %u, "
            "\"packets_out\": %u, \"data_segments_in\": %u, "
            "\"data_packets_out\": %u, \"ratio\": %.2f, "
            "\"rsc_info_packets\": %u, \"flows\": [",
            file, r.frames_in, r.pkts_out, r.data_in, r.data_out,
            r.data_out ? (double)r.data_in / r.data_out : 0.0, r.rsc_info);
    g_hash_table_iter_init(&it, r.flows);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        Flow *fl = value;
        bool ok;

        bytes_out += fl->out->len;
        ok = fl->in->len == fl->out->len &&
                  !memcmp(fl->in->data, fl->out->data, fl->in->len);

        fprintf(report, "%s{\"flow\": \"%s\", \"segments_in\": %u, "
                "\"packets_out\": %u, \"bytes\": %u, \"stream_ok\": %s}",
                sep, (char *)key, fl->segs_in, fl->pkts_out, fl->in->len,
                ok ? "true" : "false");
        sep = ", ";
        if (!ok) {
            g_test_message("%s: flow %s: stream differs (%u bytes in, "
                           "%u out)", file, (char *)key, fl->in->len,
                           fl->out->len);
        }
        all_ok &= ok;
    }
    fprintf(report, "], \"tcp_bytes_out\": %" PRIu64 ", "
            "\"qemu_cpu_ns\": %" PRId64 "}\n", bytes_out, cpu_ns);
    g_test_message("%s: %u frames, %u data segments -> %u data packets, "
                   "ratio %.2f, streams %s", file, r.frames_in, r.data_in,
                   r.data_out,
                   r.data_out ? (double)r.data_in / r.data_out : 0.0,
                   all_ok ? "OK" : "DIFFER");
    g_hash_table_destroy(r.flows);
    g_assert(all_ok || !strict);
}

/*
 * Replay the traces of RSC_REPLAY_TRACES (pcap files separated by ':');
 * the report goes to the file the environment variable @out_env names
 */
static void replay_traces(void *obj, void *data, QGuestAllocator *alloc,
                          const char *out_env)
{
    const char *traces = g_getenv("RSC_REPLAY_TRACES");
    const char *out = g_getenv(out_env);
    g_auto(GStrv) files = NULL;
    FILE *report;
    GString *stats;
    QDict *rsp;
    Guest g;
    int i;

    if (!traces || !*traces) {
        g_test_skip("set RSC_REPLAY_TRACES to replay pcap traces");
        return;
    }
    report = out ? fopen(out, "w") : fopen("/dev/null", "w");
    g_assert(report);
    guest_init(&g, obj, ((RscTestArgs *)data)->sv[0], alloc, 256,
               MRG_BUF_SIZE);
    guest_post(&g, 256);
    files = g_strsplit(traces, ":", -1);
    for (i = 0; files[i]; i++) {
        replay_trace(&g, files[i], report, 1, true);
    }
    fclose(report);

    rsp = rsc_stats();
    stats = qobject_to_json_pretty(qdict_get(rsp, "return"), true);
    g_test_message("rsc-stats: %s", stats->str);
    g_string_free(stats, true);
    qobject_unref(rsp);
}

static void test_replay(void *obj, void *data, QGuestAllocator *alloc)
{
    replay_traces(obj, data, alloc, "RSC_REPLAY_OUT");
}

/* The same with rx_coalesce: GSO packets for a guest without RSC_EXT */
static void test_replay_gso(void *obj, void *data, QGuestAllocator *alloc)
{
    replay_traces(obj, data, alloc, "RSC_REPLAY_GSO_OUT");
}

/*
 * Two queue pairs: a multiqueue tap backend (needs CAP_NET_ADMIN), frames
 * sent into the tap interface with an AF_PACKET socket; the kernel spreads
 * flows over the two queues, and each queue's engine coalesces its own.
 */

#define MQ_FLOWS    16
#define MQ_SEGS     6

typedef struct RscMqArgs {
    int tap[2];
    int pkt;            /* AF_PACKET socket bound to the tap interface */
    int ifindex;
    int sv[2];          /* socket netdev when no tap could be made */
} RscMqArgs;

#ifdef CONFIG_LINUX
static bool tap_open(RscMqArgs *a, int queues)
{
    struct ifreq ifr = { 0 };
    struct sockaddr_ll sll = { 0 };
    g_autofree char *sysctl = NULL;
    int i, s;

    for (i = 0; i < queues; i++) {
        a->tap[i] = open("/dev/net/tun", O_RDWR);
        if (a->tap[i] < 0) {
            return false;
        }
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
        if (i == 0) {
            g_snprintf(ifr.ifr_name, IFNAMSIZ, "rsctest%d", getpid() % 10000);
        }
        if (ioctl(a->tap[i], TUNSETIFF, &ifr) < 0) {
            return false;
        }
    }
    /* no IPv6 chatter (router solicitations) from the host */
    sysctl = g_strdup_printf("/proc/sys/net/ipv6/conf/%s/disable_ipv6",
                             ifr.ifr_name);
    /* not g_file_set_contents(): it writes a new file and renames it */
    s = open(sysctl, O_WRONLY);
    if (s < 0 || write(s, "1", 1) != 1) {
        return false;
    }
    close(s);
    s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        return false;
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0 || ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
        close(s);
        return false;
    }
    close(s);
    a->ifindex = ifr.ifr_ifindex;
    a->pkt = socket(AF_PACKET, SOCK_RAW, 0);
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = a->ifindex;
    return a->pkt >= 0 && bind(a->pkt, (struct sockaddr *)&sll,
                               sizeof(sll)) == 0;
}
#else
static bool tap_open(RscMqArgs *a, int queues)
{
    return false;
}
#endif

static void rsc_mq_cleanup(void *opaque)
{
    RscMqArgs *a = opaque;
    int i;

    qos_invalidate_command_line();
    for (i = 0; i < 2; i++) {
        if (a->tap[i] >= 0) {
            close(a->tap[i]);
        }
        if (a->sv[i] >= 0) {
            close(a->sv[i]);
        }
    }
    if (a->pkt >= 0) {
        close(a->pkt);
    }
    g_free(a);
}

/*
 * A tap backend with @queues (1 or 2) queues; with 0 queues, or if no tap
 * can be made, a socket netdev: the test skips, QEMU still needs a netdev.
 */
static RscMqArgs *rsc_tap_args(GString *cmd_line, int queues)
{
    RscMqArgs *a = g_new(RscMqArgs, 1);

    a->tap[0] = a->tap[1] = a->sv[0] = a->sv[1] = a->pkt = -1;
    if (queues == 2 && tap_open(a, 2)) {
        g_string_append_printf(cmd_line,
                               " -netdev tap,id=hs0,fds=%d:%d,vhost=off ",
                               a->tap[0], a->tap[1]);
    } else if (queues == 1 && tap_open(a, 1)) {
        g_string_append_printf(cmd_line,
                               " -netdev tap,id=hs0,fd=%d,vhost=off ",
                               a->tap[0]);
    } else {
        g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, a->sv), !=, -1);
        g_string_append_printf(cmd_line, " -netdev socket,fd=%d,id=hs0 ",
                               a->sv[1]);
    }
    g_test_queue_destroy(rsc_mq_cleanup, a);
    return a;
}

static void *rsc_mq_setup(GString *cmd_line, void *arg)
{
    return rsc_tap_args(cmd_line, 2);
}

static void test_two_queues(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    RscMqArgs *a = data;
    Seg segs[MQ_FLOWS][MQ_SEGS];
    bool got[MQ_FLOWS] = { false };
    unsigned pkts_on[2] = { 0, 0 }, done = 0;
    int64_t received;
    Guest g[2];
    gint64 start;
    int i, q, f;

    if (a->pkt < 0) {
        g_test_skip("no multiqueue tap device (needs CAP_NET_ADMIN)");
        return;
    }
    g_assert_cmpint(net->n_queues, ==, 5);
    set_queue_pairs(net, alloc, 2);
    for (q = 0; q < 2; q++) {
        guest_init(&g[q], net, -1, alloc, 256, MRG_BUF_SIZE);
        g[q].vq = net->queues[2 * q];
        g[q].avail_idx = qtest_readw(g[q].qts, g[q].vq->avail + 2);
        g[q].used_idx = g[q].vq->last_used_idx;
        guest_post(&g[q], 128);
    }

    received = rsc_stat("received");
    for (i = 0; i < MQ_SEGS; i++) {
        for (f = 0; f < MQ_FLOWS; f++) {
            uint8_t frame[14 + 20 + 32 + MSS];
            size_t len;

            segs[f][i] = data_seg(false, true, i);
            segs[f][i].sport = 7000 + f;
            len = build_frame(frame, &segs[f][i]);
            g_assert_cmpint(send(a->pkt, frame, len, 0), ==, len);
        }
    }

    /* every frame in, then one interval: each flow in one packet */
    rsc_wait_received(received + MQ_FLOWS * MQ_SEGS);
    qtest_clock_step(global_qtest, INTERVAL_NS);
    start = g_get_monotonic_time();
    while (done < MQ_FLOWS) {
        for (q = 0; q < 2; q++) {
            Pkt p;

            while (guest_poll(&g[q], &p)) {
                if (p.len >= 36 && get16(p.data + 12) == 0x0800) {
                    f = get16(p.data + 34) - 7000;
                    g_assert_cmpint(f, >=, 0);
                    g_assert_cmpint(f, <, MQ_FLOWS);
                    g_assert_false(got[f]);
                    assert_coalesced(&p, segs[f], 0, MQ_SEGS - 1);
                    got[f] = true;
                    done++;
                    pkts_on[q]++;
                }
                pkt_free(&p);
            }
        }
        g_assert_cmpint(g_get_monotonic_time() - start, <=, RX_TIMEOUT_US);
        g_usleep(1000);
    }

    g_test_message("queue 0: %u flows, queue 1: %u flows",
                   pkts_on[0], pkts_on[1]);
    /* the kernel spread the flows: both engines coalesced */
    g_assert_cmpint(pkts_on[0], >, 0);
    g_assert_cmpint(pkts_on[1], >, 0);
}

/* Step the clock until a packet arrives on queue 0 or 1; which one */
static int mq_next_pkt(Guest *g, Pkt *p)
{
    gint64 start = g_get_monotonic_time();
    int q;

    for (;;) {
        qtest_clock_step(global_qtest, INTERVAL_NS);
        for (q = 0; q < 2; q++) {
            if (guest_poll(&g[q], p)) {
                return q;
            }
        }
        g_assert_cmpint(g_get_monotonic_time() - start, <=, RX_TIMEOUT_US);
        g_usleep(1000);
    }
}

/*
 * Send @n data segments of the flow from port @sport, starting with
 * segment @from, and wait until the device has taken them all in.
 */
static void mq_send_flow(Guest *g, Seg *segs, int from, int n,
                         uint16_t sport)
{
    int64_t received = rsc_stat("received");
    int k;

    for (k = 0; k < n; k++) {
        segs[k] = data_seg(false, true, from + k);
        segs[k].sport = sport;
        send_seg(g, &segs[k]);
    }
    rsc_wait_received(received + n);
}

/*
 * Go to two queue pairs, find for each queue a flow the kernel steers
 * there (@sport[q], whose segment 0 is sent), and make each queue's
 * engine hold a unit of the next 10 segments of its flow (@segs[q]): the
 * fake guest has 3 buffers on each queue, too few.  False when there is
 * no multiqueue tap device (the test is skipped).
 */
/*
 * Send the first segment of a flow from port @sport into the tap device
 * and return the queue it reaches (*@s the segment, *@p the packet);
 * buffers used meanwhile, also by stray frames, are posted again
 */
static int mq_probe(Guest g[2], uint16_t sport, Seg *s, Pkt *p)
{
    int q;

    *s = data_seg(false, true, 0);
    s->sport = sport;
    send_seg(&g[0], s);
    for (;;) {
        q = mq_next_pkt(g, p);
        guest_post(&g[q], 1);
        if (p->len >= 36 && get16(p->data + 12) == 0x0800 &&
            get16(p->data + 34) == sport) {
            return q;
        }
        pkt_free(p);
    }
}

/* A fake guest on each queue of the two-queue tap, @post buffers each */
static void mq_guests_init(Guest g[2], QVirtioNet *net, RscMqArgs *a,
                           QGuestAllocator *alloc, unsigned post)
{
    int q;

    for (q = 0; q < 2; q++) {
        guest_init(&g[q], net, a->pkt, alloc, 256, MRG_BUF_SIZE);
        g[q].raw = true;
        g[q].vq = net->queues[2 * q];
        g[q].avail_idx = qtest_readw(g[q].qts, g[q].vq->avail + 2);
        g[q].used_idx = g[q].vq->last_used_idx;
        guest_post(&g[q], post);
    }
}

static bool mq_hold_two_units(QVirtioNet *net, RscMqArgs *a,
                              QGuestAllocator *alloc, Guest *g,
                              Seg segs[2][10], uint16_t *sport)
{
    int64_t refused;
    Seg s;
    Pkt p;
    int q, k;

    if (a->pkt < 0) {
        g_test_skip("no multiqueue tap device (needs CAP_NET_ADMIN)");
        return false;
    }
    set_queue_pairs(net, alloc, 2);
    mq_guests_init(g, net, a, alloc, 3);
    sport[0] = sport[1] = 0;
    for (k = 0; !sport[0] || !sport[1]; k++) {
        g_assert_cmpint(k, <, 64);
        q = mq_probe(g, 7100 + k, &s, &p);
        assert_untouched(&p, &s);
        pkt_free(&p);
        if (!sport[q]) {
            sport[q] = s.sport;
        }
    }

    for (q = 0; q < 2; q++) {
        mq_send_flow(&g[q], segs[q], 1, 10, sport[q]);
    }
    refused = rsc_stat("refused");
    qtest_clock_step(global_qtest, INTERVAL_NS);
    g_assert_cmpint(rsc_stat("refused"), ==, refused + 2);
    for (q = 0; q < 2; q++) {
        g_assert_false(guest_poll(&g[q], &p));
    }
    return true;
}

/*
 * The guest goes down to one queue pair while each queue's engine holds
 * a unit for lack of buffers, and queue 0 has no flow slot to take the
 * second's (rsc_max_flows=1): that unit must stay off its receive queue,
 * even when the guest kicks it, until the pair is back.
 */
static void test_queue_pairs(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    Seg segs[2][10];
    uint16_t sport[2];
    Guest g[2];
    Pkt p;
    int64_t refused;

    if (!mq_hold_two_units(net, data, alloc, g, segs, sport)) {
        return;
    }

    /*
     * The command tries queue 1 once more and queue 0 once, as the guest
     * still uses it; then queue 1 is left alone: neither the guest's kick
     * nor the status update retries it.
     */
    refused = rsc_stat("refused");
    set_queue_pairs(net, alloc, 1);
    g_assert_cmpint(rsc_stat("refused"), ==, refused + 2);
    /* the kick is handled before the notification write returns */
    guest_post(&g[1], 60);
    g_assert_false(guest_poll(&g[1], &p));
    g_assert_cmpint(rsc_stat("refused"), ==, refused + 2);

    guest_post(&g[0], 60);
    g_assert_true(guest_poll(&g[0], &p));
    assert_coalesced(&p, segs[0], 0, 9);
    pkt_free(&p);
    g_assert_false(guest_poll(&g[1], &p));

    set_queue_pairs(net, alloc, 2);
    g_assert_true(guest_poll(&g[1], &p));
    assert_coalesced(&p, segs[1], 0, 9);
    pkt_free(&p);

    /* a unit still open when the pair goes leaves before the command ends */
    mq_send_flow(&g[1], segs[1], 11, 3, sport[1]);
    g_assert_false(guest_poll(&g[1], &p));
    set_queue_pairs(net, alloc, 1);
    g_assert_true(guest_poll(&g[1], &p));
    assert_coalesced(&p, segs[1], 0, 2);
    pkt_free(&p);
}

/*
 * The same with room for more flows on queue 0: the unit queue 1 holds
 * moves there, behind the one queue 0 holds, and the guest gets both in
 * order once it posts buffers; queue 1 gets nothing when it is back.
 */
static void test_queue_pairs_move(void *obj, void *data,
                                  QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    Seg segs[2][10];
    uint16_t sport[2];
    Guest g[2];
    Pkt p;

    if (!mq_hold_two_units(net, data, alloc, g, segs, sport)) {
        return;
    }
    set_queue_pairs(net, alloc, 1);
    guest_post(&g[0], 60);
    g_assert_true(guest_poll(&g[0], &p));
    assert_coalesced(&p, segs[0], 0, 9);
    pkt_free(&p);
    g_assert_true(guest_poll(&g[0], &p));
    assert_coalesced(&p, segs[1], 0, 9);
    pkt_free(&p);

    guest_post(&g[1], 60);
    set_queue_pairs(net, alloc, 2);
    qtest_clock_step(global_qtest, INTERVAL_NS);
    g_assert_false(guest_poll(&g[0], &p));
    g_assert_false(guest_poll(&g[1], &p));
}

/* VIRTIO_NET_CTRL_MQ_RSS_CONFIG: every TCP/IPv4 flow to @queue */
static void rss_steer_all(QVirtioNet *net, QGuestAllocator *alloc,
                          uint16_t queue)
{
    uint8_t cfg[4 + 2 + 2 + 2 + 2 + 1 + 40] = { 0 };

    stl_le_p(cfg, VIRTIO_NET_RSS_HASH_TYPE_IPv4 |
             VIRTIO_NET_RSS_HASH_TYPE_TCPv4);
    /* indirection_table_mask 0: a table of one entry */
    stw_le_p(cfg + 6, queue);       /* unclassified_queue */
    stw_le_p(cfg + 8, queue);       /* indirection_table[0] */
    stw_le_p(cfg + 10, 2);          /* max_tx_vq */
    cfg[12] = 40;                   /* hash_key_length */
    memset(cfg + 13, 0x6d, 40);
    g_assert_cmpint(ctrl_cmd(net, alloc, VIRTIO_NET_CTRL_MQ,
                             VIRTIO_NET_CTRL_MQ_RSS_CONFIG,
                             cfg, sizeof(cfg)), ==, VIRTIO_NET_OK);
}

/* The next packet of the flow from port @sport, skipping stray frames */
static bool mq_poll_flow(Guest *g, Pkt *p, uint16_t sport)
{
    while (guest_poll(g, p)) {
        if (p->len >= 36 && get16(p->data + 12) == 0x0800 &&
            get16(p->data + 34) == sport) {
            return true;
        }
        pkt_free(p);
    }
    return false;
}

/* Wait until QEMU has read every frame queued on the tap queue @fd */
static void tap_wait_read(int fd)
{
    GPollFD pfd = { .fd = fd, .events = G_IO_IN };
    gint64 start = g_get_monotonic_time();

    while (g_poll(&pfd, 1, 0) > 0) {
        g_assert_cmpint(g_get_monotonic_time() - start, <=, RX_TIMEOUT_US);
        g_usleep(100);
    }
}

/*
 * A new RSS indirection table may send a flow to another queue (Windows
 * rebalances its table at run time): the unit coalesced on the old queue
 * leaves when the command is handled, not up to rsc_interval later, after
 * the segments that follow it on the new queue.
 */
static void test_rss_flush(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioNet *net = obj;
    RscMqArgs *a = data;
    const uint16_t sport = 7200;
    Seg segs[4];
    Guest g[2];
    Pkt p;

    if (a->pkt < 0) {
        g_test_skip("no multiqueue tap device (needs CAP_NET_ADMIN)");
        return;
    }
    rss_steer_all(net, alloc, 0);
    mq_guests_init(g, net, a, alloc, 32);

    mq_send_flow(&g[0], segs, 0, 2, sport);
    g_assert_false(mq_poll_flow(&g[0], &p, sport));
    rss_steer_all(net, alloc, 1);
    g_assert_true(mq_poll_flow(&g[0], &p, sport));
    assert_coalesced(&p, segs, 0, 1);
    pkt_free(&p);

    mq_send_flow(&g[0], segs + 2, 2, 2, sport);
    qtest_clock_step(global_qtest, INTERVAL_NS);
    g_assert_true(mq_poll_flow(&g[1], &p, sport));
    assert_coalesced(&p, segs, 2, 3);
    pkt_free(&p);
    g_assert_false(mq_poll_flow(&g[0], &p, sport));
}

/*
 * With software RSS a frame that arrived on one backend queue may be for
 * another receive queue.  When that queue has no room the frame waits in
 * the net queue of the backend queue it arrived on, which then reads no
 * more: the guest's kick of the full queue must let it in, whether RSC is
 * on (the engine of that queue stalls) or off; with RSC on, so must the
 * engine's timer when the guest posts buffers without a kick.
 */
static void rss_redirect(void *obj, void *data, QGuestAllocator *alloc,
                         bool kick)
{
    QVirtioNet *net = obj;
    RscMqArgs *a = data;
    bool rsc = net->vdev->features & (1ULL << VIRTIO_NET_F_RSC_EXT);
    uint16_t sport = 0;
    gint64 start;
    Guest g[2];
    Seg s, seg[2], other;
    Pkt p;
    int q, k;

    if (a->pkt < 0) {
        g_test_skip("no multiqueue tap device (needs CAP_NET_ADMIN)");
        return;
    }
    set_queue_pairs(net, alloc, 2);
    mq_guests_init(g, net, a, alloc, 16);
    /* a flow the tap device hands to its queue 0 */
    for (k = 0; !sport; k++) {
        g_assert_cmpint(k, <, 64);
        q = mq_probe(g, 7300 + k, &s, &p);
        pkt_free(&p);
        if (q == 0) {
            sport = s.sport;
        }
    }

    /* everything to queue 1, whose ring the guest then lets run empty */
    rss_steer_all(net, alloc, 1);
    while ((uint16_t)(g[1].avail_idx - g[1].used_idx)) {
        send_marker(&g[1], 0);
        g_assert_true(mq_next_pkt(g, &p) == 1);
        pkt_free(&p);
    }

    /* the flow's next segments arrive on tap queue 0, for queue 1 */
    for (k = 0; k < 2; k++) {
        seg[k] = data_seg(false, true, 1 + k);
        seg[k].sport = sport;
    }
    send_seg(&g[0], &seg[0]);
    tap_wait_read(a->tap[0]);
    if (rsc && !kick) {
        /*
         * Another flow's unit, due half an interval later: the timer
         * armed for it retries delivery once the engine has stalled
         */
        int64_t received = rsc_stat("received");

        qtest_clock_step(global_qtest, INTERVAL_NS / 2);
        other = data_seg(false, true, 0);
        other.sport = sport + 1;
        send_seg(&g[0], &other);
        rsc_wait_received(received + 1);
        qtest_clock_step(global_qtest, INTERVAL_NS / 2);
        g_assert_cmpint(rsc_stat("refused"), ==, 1);
        send_seg(&g[0], &seg[1]);
        tap_wait_read(a->tap[0]);
    } else if (rsc) {
        /* the engine took it; its unit is due and finds no room */
        qtest_clock_step(global_qtest, INTERVAL_NS);
        g_assert_cmpint(rsc_stat("refused"), ==, 1);
        /* the engine is stalled: this one waits in net queue 0 */
        send_seg(&g[0], &seg[1]);
        tap_wait_read(a->tap[0]);
    } else {
        /* in net queue 0 now, which stops reading tap queue 0 */
        send_seg(&g[0], &seg[1]);
    }

    /*
     * Without a kick the timer's retry ends the stall, and must let in
     * net queue 0 as well as net queue 1 of the queue it serves
     */
    guest_post_kick(&g[1], 64, kick);
    start = g_get_monotonic_time();
    for (k = 0; k < 2; k++) {
        while (!mq_poll_flow(&g[1], &p, sport)) {
            qtest_clock_step(global_qtest, INTERVAL_NS);
            g_assert_cmpint(g_get_monotonic_time() - start, <=,
                            RX_TIMEOUT_US);
            g_usleep(1000);
        }
        assert_untouched(&p, &seg[k]);
        pkt_free(&p);
    }
}

static void test_rss_redirect(void *obj, void *data, QGuestAllocator *alloc)
{
    rss_redirect(obj, data, alloc, true);
}

static void test_rss_redirect_timer(void *obj, void *data,
                                    QGuestAllocator *alloc)
{
    rss_redirect(obj, data, alloc, false);
}

/*
 * The backend's virtio-net header counts.  A tap device hands QEMU what an
 * AF_PACKET socket with PACKET_VNET_HDR sent into it, with the header the
 * sender gave (the kernel keeps NEEDS_CSUM and GSO when QEMU turned the
 * tap's offloads on, as it does for this guest).
 */

/*
 * Frame of @s as a sender that leaves the TCP checksum to the NIC sends
 * it: NEEDS_CSUM, the pseudo-header sum in the checksum field; TCP GSO
 * when it is longer than an MSS.  Returns its length, *@h its header.
 */
static size_t partial_frame(uint8_t *f, const Seg *s, struct virtio_net_hdr *h)
{
    size_t len = build_frame(f, s), l4 = 14 + 20;
    uint32_t sum = csum_add(0, f + 14 + 12, 8) + 6 + (len - l4);

    put16(f + l4 + 16, ~csum_finish(sum));
    *h = (struct virtio_net_hdr) {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .csum_start = cpu_to_le16(l4),
        .csum_offset = cpu_to_le16(16),
    };
    if (s->len > MSS) {
        h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        h->gso_size = cpu_to_le16(MSS);
        h->hdr_len = cpu_to_le16(l4 + 32);
    }
    return len;
}

static void send_partial(Guest *g, const Seg *s)
{
    uint8_t f[14 + 20 + 32 + 3 * MSS];
    struct virtio_net_hdr h;
    size_t len;

    g_assert_cmpint(s->len, <=, 3 * MSS);
    len = partial_frame(f, s, &h);
    send_frame_hdr(g, &h, f, len);
}

/* The one packet of the flow from port @sport in @pkts */
static const Pkt *flow_pkt(GArray *pkts, uint16_t sport)
{
    const Pkt *found = NULL;
    guint i;

    for (i = 0; i < pkts->len; i++) {
        const Pkt *p = &g_array_index(pkts, Pkt, i);

        if (p->len >= 36 && get16(p->data + 34) == sport) {
            g_assert_null(found);
            found = p;
        }
    }
    g_assert_nonnull(found);
    return found;
}

/* @p is @s as partial_frame() made it, with flags @flags and @segments */
static void assert_partial(const Pkt *p, const Seg *s, uint8_t flags,
                           uint16_t segments)
{
    uint8_t f[14 + 20 + 32 + 3 * MSS];
    struct virtio_net_hdr h;
    size_t len = partial_frame(f, s, &h);

    g_assert_cmphex(p->hdr.flags, ==, flags);
    g_assert_cmpint(p->hdr.gso_type, ==, h.gso_type);
    g_assert_cmpint(p->hdr.gso_size, ==, le16_to_cpu(h.gso_size));
    if (flags & VIRTIO_NET_HDR_F_RSC_INFO) {
        g_assert_cmpint(p->hdr.csum_start, ==, segments);
        g_assert_cmpint(p->hdr.csum_offset, ==, 0);
    } else {
        g_assert_cmpint(p->hdr.csum_start, ==, le16_to_cpu(h.csum_start));
        g_assert_cmpint(p->hdr.csum_offset, ==, le16_to_cpu(h.csum_offset));
    }
    g_assert_cmpmem(p->data, p->len, f, len);
}

static void test_backend_hdr(void *obj, void *data, QGuestAllocator *alloc)
{
    RscMqArgs *a = data;
    Seg segs[2], lone, gso;
    GArray *pkts;
    Guest g;
    int one = 1;

    if (a->pkt < 0) {
        g_test_skip("no tap device (needs CAP_NET_ADMIN)");
        return;
    }
#ifdef CONFIG_LINUX
    g_assert_cmpint(setsockopt(a->pkt, SOL_PACKET, PACKET_VNET_HDR, &one,
                               sizeof(one)), ==, 0);
#endif
    guest_init(&g, obj, a->pkt, alloc, 256, MRG_BUF_SIZE);
    g.raw = true;
    g.vnet_hdr = true;
    guest_post(&g, 64);

    /* NEEDS_CSUM vouches for the payload: these join, with a valid sum */
    segs[0] = data_seg(false, true, 0);
    segs[1] = data_seg(false, true, 1);
    send_partial(&g, &segs[0]);
    send_partial(&g, &segs[1]);
    /* alone, a segment keeps its header and its checksum field */
    lone = data_seg(false, true, 0);
    lone.sport = 6001;
    send_partial(&g, &lone);
    /* a TCP GSO packet of three segments: RSC_INFO, 3 */
    gso = data_seg(false, true, 0);
    gso.sport = 6002;
    gso.len = 3 * MSS;
    send_partial(&g, &gso);

    pkts = guest_step(&g, INTERVAL_NS);
    g_assert_cmpint(pkts->len, ==, 3);
    assert_coalesced(flow_pkt(pkts, 5001), segs, 0, 1);
    assert_partial(flow_pkt(pkts, 6001), &lone, VIRTIO_NET_HDR_F_NEEDS_CSUM,
                   0);
    assert_partial(flow_pkt(pkts, 6002), &gso, VIRTIO_NET_HDR_F_NEEDS_CSUM |
                   VIRTIO_NET_HDR_F_RSC_INFO, 3);
    pkts_free(pkts);
}

static void rsc_test_cleanup(void *opaque)
{
    RscTestArgs *args = opaque;

    close(args->sv[0]);
    qos_invalidate_command_line();
    close(args->sv[1]);
    g_free(args);
}

static void *rsc_test_setup(GString *cmd_line, void *arg)
{
    RscTestArgs *args = g_new(RscTestArgs, 1);

    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, args->sv), !=, -1);
    g_string_append_printf(cmd_line, " -netdev socket,fd=%d,id=hs0 ",
                           args->sv[1]);
    g_test_queue_destroy(rsc_test_cleanup, args);
    return args;
}

/* Frames from the socket pass a filter-buffer released every microsecond */
static void *rsc_buffered_setup(GString *cmd_line, void *arg)
{
    void *args = rsc_test_setup(cmd_line, arg);

    g_string_append(cmd_line, " -object filter-buffer,id=rsc-fb,netdev=hs0,"
                    "queue=tx,interval=1 ");
    return args;
}

#endif /* _WIN32 */

/*
 * End to end benchmark, for bench/e2e.sh: the replay through a tap backend
 * with a virtio-net header (the only backend stock QEMU's RSC works with),
 * frames sent into the tap interface with an AF_PACKET socket.  Reports
 * what the guest got and QEMU's CPU time; it asserts nothing about the
 * result, so that it can measure other QEMU binaries too.
 * RSC_E2E_TRACES: pcap files separated by ':', RSC_E2E_OUT: report file,
 * RSC_E2E_REPEAT: times each trace is sent (default 1).
 */
static void *rsc_tap1_setup(GString *cmd_line, void *arg)
{
    return rsc_tap_args(cmd_line, 1);
}

static void *rsc_tap_setup(GString *cmd_line, void *arg)
{
    return rsc_tap_args(cmd_line, g_getenv("RSC_E2E_TRACES") ? 1 : 0);
}

static void test_e2e(void *obj, void *data, QGuestAllocator *alloc)
{
    RscMqArgs *a = data;
    const char *traces = g_getenv("RSC_E2E_TRACES");
    const char *out = g_getenv("RSC_E2E_OUT");
    const char *repeat = g_getenv("RSC_E2E_REPEAT");
    g_auto(GStrv) files = NULL;
    FILE *report;
    Guest g;
    int i;

    if (!traces || !*traces) {
        g_test_skip("set RSC_E2E_TRACES to run the end to end benchmark");
        return;
    }
    if (a->pkt < 0) {
        g_test_skip("no tap device (needs CAP_NET_ADMIN)");
        return;
    }
    report = fopen(out ? out : "/dev/null", "w");
    g_assert(report);
    guest_init(&g, obj, a->pkt, alloc, 256, MRG_BUF_SIZE);
    g.raw = true;
    guest_post(&g, 256);
    files = g_strsplit(traces, ":", -1);
    for (i = 0; files[i]; i++) {
        replay_trace(&g, files[i], report,
                     repeat ? MAX(1, atoi(repeat)) : 1, false);
    }
    fclose(report);
}

static void register_virtio_net_rsc_test(void)
{
#ifndef _WIN32
    QOSGraphTestOptions opts = {
        .before = rsc_test_setup,
        .edge.extra_device_opts = "guest_rsc_ext=on,rsc_interval=300000",
    };

    qos_add_test("rsc/ipv4-timestamps", "virtio-net", test_ipv4_ts, &opts);
    qos_add_test("rsc/ipv6-timestamps", "virtio-net", test_ipv6_ts, &opts);
    qos_add_test("rsc/finalize", "virtio-net", test_finalize, &opts);
    qos_add_test("rsc/dup-acks", "virtio-net", test_dup_acks, &opts);
    qos_add_test("rsc/psh-burst", "virtio-net", test_psh, &opts);
    qos_add_test("rsc/limit-64k", "virtio-net", test_limit, &opts);
    qos_add_test("rsc/ring-full", "virtio-net", test_ring_full, &opts);
    qos_add_test("rsc/stats", "virtio-net", test_stats, &opts);
    qos_add_test("rsc/stop-cont", "virtio-net", test_stop_cont, &opts);
    qos_add_test("rsc/reset", "virtio-net", test_reset, &opts);
    qos_add_test("rsc/offloads-bit61", "virtio-net", test_offloads, &opts);
#ifdef CONFIG_LINUX
    /* they need to know that QEMU has read a frame: guest_wait_read() */
    qos_add_test("rsc/timer-resume", "virtio-net", test_timer_resume, &opts);
    qos_add_test("rsc/offloads-resume", "virtio-net", test_offloads_resume,
                 &opts);
#endif
    qos_add_test("rsc/properties", "virtio-net", test_properties, &opts);
    qos_add_test("rsc/malformed", "virtio-net", test_malformed, &opts);
    opts.before = rsc_buffered_setup;
    qos_add_test("rsc/malformed-buffered", "virtio-net",
                 test_malformed_buffered, &opts);
    opts.before = rsc_test_setup;
    qos_add_test("rsc/replay", "virtio-net", test_replay, &opts);
    qos_add_test("rsc/migrate", "virtio-net-pci", test_migrate, &opts);
    qos_add_test("rsc/migrate-rsc-off", "virtio-net-pci",
                 test_migrate_rsc_off, &opts);
    qos_add_test("rsc/migrate-stream", "virtio-net-pci", test_migrate_stream,
                 &opts);
    qos_add_test("rsc/ring-reset", "virtio-net-pci", test_ring_reset, &opts);
    qos_add_test("rsc/reentrant-reset", "virtio-net-pci",
                 test_reentrant_reset, &opts);
    qos_add_test("rsc/no-vnet-hdr", "virtio-net", test_no_vnet_hdr, &opts);
    /* the properties older machine types set: 10.0's ABI and stream */
    opts.edge.extra_device_opts = "guest_rsc_ext=on,x-rsc-migrate=off";
    qos_add_test("rsc/migrate-stream-compat", "virtio-net-pci",
                 test_migrate_stream, &opts);
    opts.edge.extra_device_opts = "guest_rsc_ext=on,x-rsc-no-vnet-hdr=off";
    qos_add_test("rsc/no-vnet-hdr-compat", "virtio-net", test_no_vnet_hdr,
                 &opts);

    opts.before = rsc_mq_setup;
    opts.edge.extra_device_opts = "guest_rsc_ext=on,mq=on,vectors=6";
    qos_add_test("rsc/two-queues", "virtio-net", test_two_queues, &opts);
    qos_add_test("rsc/queue-pairs-move", "virtio-net", test_queue_pairs_move,
                 &opts);
    opts.edge.extra_device_opts = "guest_rsc_ext=on,mq=on,vectors=6,"
                                  "rsc_max_flows=1";
    qos_add_test("rsc/queue-pairs", "virtio-net", test_queue_pairs, &opts);
    opts.edge.extra_device_opts = "guest_rsc_ext=on,mq=on,vectors=6,rss=on";
    qos_add_test("rsc/rss-flush", "virtio-net", test_rss_flush, &opts);
    qos_add_test("rsc/rss-redirect", "virtio-net", test_rss_redirect, &opts);
    qos_add_test("rsc/rss-redirect-timer", "virtio-net",
                 test_rss_redirect_timer, &opts);
    opts.edge.extra_device_opts = "guest_rsc_ext=off,mq=on,vectors=6,rss=on";
    qos_add_test("rsc/rss-redirect-off", "virtio-net", test_rss_redirect,
                 &opts);

    opts.before = rsc_tap1_setup;
    opts.edge.extra_device_opts = "guest_rsc_ext=on";
    qos_add_test("rsc/backend-header", "virtio-net", test_backend_hdr,
                 &opts);

    opts.before = rsc_tap_setup;
    opts.edge.extra_device_opts = "guest_rsc_ext=on,rsc_interval=300000";
    qos_add_test("rsc/e2e-on", "virtio-net", test_e2e, &opts);
    opts.edge.extra_device_opts = "guest_rsc_ext=off";
    qos_add_test("rsc/e2e-off", "virtio-net", test_e2e, &opts);

    opts.before = rsc_test_setup;
    opts.edge.extra_device_opts = "guest_rsc_ext=on,rsc_max_flows=2";
    qos_add_test("rsc/flow-bound", "virtio-net", test_flow_bound, &opts);

    opts.edge.extra_device_opts = "guest_rsc_ext=on,mrg_rxbuf=off";
    qos_add_test("rsc/no-mergeable", "virtio-net", test_no_mrg, &opts);

    opts.edge.extra_device_opts = "guest_rsc_ext=off";
    qos_add_test("rsc/off-untouched", "virtio-net", test_off, &opts);

    opts.edge.extra_device_opts = "rx_coalesce=on,rsc_interval=300000";
    qos_add_test("rsc/gso", "virtio-net", test_gso, &opts);
    qos_add_test("rsc/gso-offloads", "virtio-net", test_gso_offloads, &opts);
    qos_add_test("rsc/gso-offloads-held", "virtio-net",
                 test_gso_offloads_held, &opts);
    qos_add_test("rsc/gso-migrate-offloads", "virtio-net-pci",
                 test_gso_migrate_offloads, &opts);
    qos_add_test("rsc/replay-gso", "virtio-net", test_replay_gso, &opts);
    /* a guest that negotiates RSC_EXT gets RSC_INFO packets all the same */
    opts.edge.extra_device_opts = "guest_rsc_ext=on,rx_coalesce=on,"
                                  "rsc_interval=300000";
    qos_add_test("rsc/gso-rsc-ext-first", "virtio-net", test_ipv4_ts, &opts);
#endif
}

libqos_init(register_virtio_net_rsc_test);
