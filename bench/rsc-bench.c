/*
 * Performance benchmark of the TCP receive segment coalescing engine
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Feeds workloads (synthetic bulk TCP/IPv4 flows, an adversarial stream
 * of new flows, and pcap traces) to the engine, in one process and on one
 * core, and compares with a memcpy floor (each TCP payload copied once)
 * and, when built with DPDK, with DPDK's TCP/IPv4 GRO.  Every figure is
 * the median of several timed runs.  See bench/README.md.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "net/rsc.h"

#include <glob.h>
#include <inttypes.h>
#include <math.h>
#include <time.h>

#ifdef CONFIG_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_gro.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_version.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define BENCH_NOIPA __attribute__((noipa))
#else
#define BENCH_NOIPA __attribute__((noinline))
#endif

#define ETH_HLEN            14
#define MSS                 1448
#define TCP_HLEN_TS         32
#define SYN_FRAME_LEN       (ETH_HLEN + 20 + TCP_HLEN_TS + MSS)
/* 10 Gbit/s line rate of 1514-byte frames (with preamble, FCS, gap) */
#define FRAME_NS            1230
#define PATTERN_LEN         (128 * 1024)
#define RING_LEN            (64 * 1024)
#define ADVERSARIAL_FLOWS   50000
#define CALLGRIND_FLOWS     16
#define CALLGRIND_SEGMENTS  20000
#define HASH_SEED           0x5eed1234u
/* Slow measurements stop after this many seconds once they have 3 runs */
#define SLOW_BUDGET_S       3.0

/* Targets (bench/README.md) */
#define TARGET_MSEGS        8.2
#define TARGET_COPY_X       2.0
#define TARGET_FLAT_X       1.5

typedef struct Frame {
    uint64_t off;       /* into Workload.data */
    uint32_t len;
    uint16_t pay_off;   /* TCP payload, from the frame start */
    uint16_t pay_len;   /* TCP payload bytes, per the IP length */
    int64_t ts_ns;
    bool ipv4_tcp;
    uint8_t l3_len;
    uint8_t l4_len;
} Frame;

typedef enum WorkKind {
    WORK_BULK,
    WORK_ADVERSARIAL,
    WORK_PCAP,
} WorkKind;

typedef struct Workload {
    char name[48];
    WorkKind kind;
    uint32_t flows;
    uint8_t *data;
    size_t data_len;
    size_t data_cap;
    Frame *frames;
    size_t nframes;
    size_t frames_cap;
    uint64_t data_segs;     /* frames with TCP payload */
    uint64_t payload;       /* their payload bytes */
    bool has_ipv6_data;
    uint32_t max_len;
} Workload;

/* Median results of one workload; negative means not measured */
typedef struct Result {
    double eng_ns;
    double copy_ns;
    double memcpy_ns;
    double ratio;
    double dpdk_ns;
    double dpdk_ratio;
    double ctx_ns;
    double ctx_ratio;
    size_t mem_peak;
    size_t mem_bound;
    uint64_t evictions;
} Result;

typedef struct Sink {
    uint64_t pkts;
    uint64_t data_pkts;
    uint64_t payload;
    uint8_t *copy_buf;
} Sink;

typedef struct Options {
    size_t segments;
    int runs;
    uint32_t flows[16];
    int nflows;
    uint32_t max_flows;
    bool bulk_only;
    bool no_dpdk;
    bool callgrind;
    const char *pcap_dir;
    const char *csv;
    char **pcaps;
    int npcaps;
} Options;

static uint8_t pattern[PATTERN_LEN + RING_LEN];

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    if (n == 0) {
        return -1;
    }
    qsort(v, n, sizeof(*v), cmp_double);
    return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Workload storage */

static void work_init(Workload *w, const char *name, WorkKind kind,
                      size_t frames_hint, size_t bytes_hint)
{
    memset(w, 0, sizeof(*w));
    g_strlcpy(w->name, name, sizeof(w->name));
    w->kind = kind;
    w->frames_cap = MAX(frames_hint, 16);
    w->frames = g_new(Frame, w->frames_cap);
    w->data_cap = MAX(bytes_hint, 4096);
    w->data = g_malloc(w->data_cap);
}

static void work_free(Workload *w)
{
    g_free(w->frames);
    g_free(w->data);
    memset(w, 0, sizeof(*w));
}

/* Fill the parsed fields of a frame: where its TCP payload is */
static void frame_parse(Workload *w, Frame *f)
{
    const uint8_t *p = w->data + f->off;
    size_t l3_len, l4, tcp_hlen, ip_end;

    f->pay_off = 0;
    f->pay_len = 0;
    f->ipv4_tcp = false;
    f->l3_len = 0;
    f->l4_len = 0;
    if (f->len < ETH_HLEN + 20) {
        return;
    }
    switch (lduw_be_p(p + 12)) {
    case 0x0800:
        l3_len = (p[ETH_HLEN] & 0xf) * 4;
        ip_end = ETH_HLEN + lduw_be_p(p + ETH_HLEN + 2);
        if (p[ETH_HLEN + 9] != 6 || l3_len < 20 ||
            (lduw_be_p(p + ETH_HLEN + 6) & 0x3fff)) {
            return;
        }
        break;
    case 0x86dd:
        if (f->len < ETH_HLEN + 40 || p[ETH_HLEN + 6] != 6) {
            return;
        }
        l3_len = 40;
        ip_end = ETH_HLEN + 40 + lduw_be_p(p + ETH_HLEN + 4);
        break;
    default:
        return;
    }
    l4 = ETH_HLEN + l3_len;
    if (ip_end > f->len || l4 + 20 > ip_end) {
        return;
    }
    tcp_hlen = (p[l4 + 12] >> 4) * 4;
    if (tcp_hlen < 20 || l4 + tcp_hlen > ip_end) {
        return;
    }
    f->pay_off = l4 + tcp_hlen;
    f->pay_len = ip_end - f->pay_off;
    f->l3_len = l3_len;
    f->l4_len = tcp_hlen;
    f->ipv4_tcp = lduw_be_p(p + 12) == 0x0800;
    if (!f->ipv4_tcp && f->pay_len) {
        w->has_ipv6_data = true;
    }
}

static uint8_t *work_add(Workload *w, size_t len, int64_t ts_ns)
{
    Frame *f;

    if (w->nframes == w->frames_cap) {
        w->frames_cap *= 2;
        w->frames = g_renew(Frame, w->frames, w->frames_cap);
    }
    if (w->data_len + len > w->data_cap) {
        while (w->data_len + len > w->data_cap) {
            w->data_cap *= 2;
        }
        w->data = g_realloc(w->data, w->data_cap);
    }
    f = &w->frames[w->nframes++];
    f->off = w->data_len;
    f->len = len;
    f->ts_ns = ts_ns;
    w->data_len += len;
    w->max_len = MAX(w->max_len, len);
    return w->data + f->off;
}

/* Account a frame once its bytes are in place */
static void work_commit(Workload *w)
{
    Frame *f = &w->frames[w->nframes - 1];

    frame_parse(w, f);
    if (f->pay_len) {
        w->data_segs++;
        w->payload += f->pay_len;
    }
}

/* Synthetic TCP/IPv4 frames, checksums computed independently */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    while (n > 1) {
        sum += (p[0] << 8) | p[1];
        p += 2;
        n -= 2;
    }
    if (n) {
        sum += p[0] << 8;
    }
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

typedef struct SynFlow {
    uint32_t saddr;
    uint32_t daddr;
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint16_t ip_id;
    uint32_t pat_off;
} SynFlow;

static void syn_flow_init(SynFlow *fl, uint32_t i)
{
    fl->saddr = 0x0a000000u + 1 + i;    /* 10.0.0.1 ... */
    fl->daddr = 0x0aff0001u;            /* 10.255.0.1 */
    fl->sport = 40000 + i % 20000;
    fl->dport = 5201;
    fl->seq = 0x10000000u + i * 7919u;
    fl->ack = 0x20000000u + i;
    fl->ip_id = i * 31;
    fl->pat_off = (i * 4099u) % PATTERN_LEN;
}

/* Append one MSS-sized data segment of @fl at @ts_ns */
static void syn_segment(Workload *w, SynFlow *fl, int64_t ts_ns)
{
    uint8_t *p = work_add(w, SYN_FRAME_LEN, ts_ns);
    uint8_t *ip = p + ETH_HLEN;
    uint8_t *tcp = ip + 20;
    uint32_t tsval = 1000000 + ts_ns / 1000000;
    uint32_t sum;

    /* Ethernet */
    memcpy(p, "\x52\x54\x00\x12\x34\x56\x52\x54\x00\xab\xcd\xef", 12);
    stw_be_p(p + 12, 0x0800);
    /* IPv4, DF, TTL 64 */
    ip[0] = 0x45;
    ip[1] = 0;
    stw_be_p(ip + 2, 20 + TCP_HLEN_TS + MSS);
    stw_be_p(ip + 4, fl->ip_id++);
    stw_be_p(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 6;
    stw_be_p(ip + 10, 0);
    stl_be_p(ip + 12, fl->saddr);
    stl_be_p(ip + 16, fl->daddr);
    stw_be_p(ip + 10, csum_fold(csum_add(0, ip, 20)));
    /* TCP, ACK, NOP NOP timestamp */
    stw_be_p(tcp, fl->sport);
    stw_be_p(tcp + 2, fl->dport);
    stl_be_p(tcp + 4, fl->seq);
    stl_be_p(tcp + 8, fl->ack);
    tcp[12] = (TCP_HLEN_TS / 4) << 4;
    tcp[13] = 0x10;
    stw_be_p(tcp + 14, 502);
    stw_be_p(tcp + 16, 0);
    stw_be_p(tcp + 18, 0);
    tcp[20] = 1;
    tcp[21] = 1;
    tcp[22] = 8;
    tcp[23] = 10;
    stl_be_p(tcp + 24, tsval);
    stl_be_p(tcp + 28, 777777);
    memcpy(tcp + TCP_HLEN_TS, pattern + fl->pat_off, MSS);
    sum = csum_add(0, ip + 12, 8) + 6 + TCP_HLEN_TS + MSS;
    sum = csum_add(sum, tcp, TCP_HLEN_TS + MSS);
    stw_be_p(tcp + 16, csum_fold(sum));

    fl->seq += MSS;
    fl->pat_off = (fl->pat_off + MSS) % PATTERN_LEN;
    work_commit(w);
}

/* @nflows bulk flows, round-robin, @nsegs segments in all */
static void make_bulk(Workload *w, uint32_t nflows, size_t nsegs)
{
    SynFlow *fl = g_new(SynFlow, nflows);
    char name[48];
    size_t i;

    snprintf(name, sizeof(name), "bulk-%u", nflows);
    work_init(w, name, WORK_BULK, nsegs, nsegs * SYN_FRAME_LEN);
    w->flows = nflows;
    for (i = 0; i < nflows; i++) {
        syn_flow_init(&fl[i], i);
    }
    for (i = 0; i < nsegs; i++) {
        syn_segment(w, &fl[i % nflows], (int64_t)i * FRAME_NS);
    }
    g_free(fl);
}

/* Distinct new flows, one data segment each */
static void make_adversarial(Workload *w, uint32_t nflows)
{
    SynFlow fl;
    uint32_t i;

    work_init(w, "new-flows", WORK_ADVERSARIAL, nflows,
              (size_t)nflows * SYN_FRAME_LEN);
    w->flows = nflows;
    for (i = 0; i < nflows; i++) {
        syn_flow_init(&fl, i);
        syn_segment(w, &fl, (int64_t)i * FRAME_NS);
    }
}

/* pcap traces */

static uint32_t pcap_u32(const uint8_t *p, bool swap)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return swap ? GUINT32_SWAP_LE_BE(v) : v;
}

static uint32_t count_flows(const Workload *w)
{
    GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal,
                                          g_free, NULL);
    uint32_t n;
    size_t i;

    for (i = 0; i < w->nframes; i++) {
        const Frame *f = &w->frames[i];
        const uint8_t *p = w->data + f->off;
        size_t l4 = ETH_HLEN + f->l3_len;
        char *key;

        if (!f->l4_len) {
            continue;
        }
        if (f->ipv4_tcp) {
            key = g_strdup_printf("4 %08x %08x %u %u",
                                  ldl_be_p(p + ETH_HLEN + 12),
                                  ldl_be_p(p + ETH_HLEN + 16),
                                  lduw_be_p(p + l4), lduw_be_p(p + l4 + 2));
        } else {
            GString *s = g_string_new("6");
            int j;

            for (j = 0; j < 32; j++) {
                g_string_append_printf(s, "%02x", p[ETH_HLEN + 8 + j]);
            }
            g_string_append_printf(s, " %u %u", lduw_be_p(p + l4),
                                   lduw_be_p(p + l4 + 2));
            key = g_string_free(s, false);
        }
        g_hash_table_add(h, key);
    }
    n = g_hash_table_size(h);
    g_hash_table_destroy(h);
    return n;
}

/*
 * Read a classic pcap (Ethernet) and repeat it until it holds at least
 * @nsegs frames, each copy later in time.  Cold: every repeat is a copy
 * of the frames, so that they stream from memory (300 MB) like the
 * synthetic workloads.  Hot: repeats feed the same bytes again, which
 * stay in the cache as a frame just read from a tap device does in QEMU;
 * the engine never writes to a fed frame, so it behaves the same.
 */
static bool load_pcap(Workload *w, const char *path, size_t nsegs, bool hot)
{
    g_autofree gchar *buf = NULL;
    g_autofree gchar *base = g_path_get_basename(path);
    g_autofree gchar *name = NULL;
    g_autoptr(GError) err = NULL;
    gsize size, off = 24;
    size_t n1, rep, i;
    uint32_t magic;
    bool swap, nano;
    int64_t span;

    if (!g_file_get_contents(path, &buf, &size, &err)) {
        fprintf(stderr, "rsc-bench: %s\n", err->message);
        return false;
    }
    if (size < 24) {
        fprintf(stderr, "rsc-bench: %s: not a pcap file\n", path);
        return false;
    }
    memcpy(&magic, buf, 4);
    swap = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
    nano = magic == 0xa1b23c4d || magic == 0x4d3cb2a1;
    if (!swap && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
        fprintf(stderr, "rsc-bench: %s: not a classic pcap file\n", path);
        return false;
    }
    if ((pcap_u32((uint8_t *)buf + 20, swap) & 0xffff) != 1) {
        fprintf(stderr, "rsc-bench: %s: link type is not Ethernet\n", path);
        return false;
    }
    if (g_str_has_suffix(base, ".pcap")) {
        base[strlen(base) - 5] = 0;
    }
    name = g_strconcat(base, hot ? "/hot" : "", NULL);
    work_init(w, name, WORK_PCAP, nsegs, size * 2);
    while (off + 16 <= size) {
        const uint8_t *rec = (const uint8_t *)buf + off;
        uint32_t incl = pcap_u32(rec + 8, swap);
        int64_t ts = pcap_u32(rec, swap) * 1000000000LL +
                     pcap_u32(rec + 4, swap) * (nano ? 1 : 1000);

        if (off + 16 + incl > size) {
            break;
        }
        memcpy(work_add(w, incl, ts), rec + 16, incl);
        work_commit(w);
        off += 16 + incl;
    }
    n1 = w->nframes;
    if (!n1) {
        fprintf(stderr, "rsc-bench: %s: no frames\n", path);
        work_free(w);
        return false;
    }
    w->flows = count_flows(w);
    span = w->frames[n1 - 1].ts_ns - w->frames[0].ts_ns + 1000000;
    for (rep = 1; w->nframes < nsegs; rep++) {
        for (i = 0; i < n1; i++) {
            Frame f = w->frames[i];
            uint8_t *dst = work_add(w, hot ? 0 : f.len, f.ts_ns + rep * span);

            if (hot) {
                w->frames[w->nframes - 1].off = f.off;
                w->frames[w->nframes - 1].len = f.len;
            } else {
                /* work_add() may move w->data */
                memcpy(dst, w->data + f.off, f.len);
            }
            work_commit(w);
        }
    }
    return true;
}

/* Delivery callbacks */

static bool deliver_count(void *opaque, const NetRscHdr *hdr,
                          const uint8_t *frame, size_t len)
{
    Sink *s = opaque;

    s->pkts++;
    return true;
}

/* The copy into guest memory a device does for every delivered packet */
static bool deliver_copy(void *opaque, const NetRscHdr *hdr,
                         const uint8_t *frame, size_t len)
{
    Sink *s = opaque;

    memcpy(s->copy_buf, frame, len);
    s->pkts++;
    return true;
}

/* Untimed: tell data packets and count payload */
static bool deliver_check(void *opaque, const NetRscHdr *hdr,
                          const uint8_t *frame, size_t len)
{
    Sink *s = opaque;
    Workload tmp = { .data = (uint8_t *)frame };
    Frame f = { .off = 0, .len = len };

    frame_parse(&tmp, &f);
    s->pkts++;
    if (f.pay_len) {
        s->data_pkts++;
        s->payload += f.pay_len;
    }
    return true;
}

static NetRscEngine *engine_new(uint32_t max_flows, NetRscDeliverFunc *fn,
                                Sink *sink)
{
    NetRscConfig cfg = {
        .max_flows = max_flows,
        .interval_ns = NET_RSC_DEFAULT_INTERVAL_NS,
        .hash_seed = HASH_SEED,
        .deliver = fn,
        .opaque = sink,
    };
    NetRscEngine *e = net_rsc_new(&cfg);

    if (!e) {
        fprintf(stderr, "rsc-bench: net_rsc_new failed\n");
        exit(1);
    }
    return e;
}

/* Feed every frame without a virtio-net header, then flush */
static BENCH_NOIPA void feed_all(NetRscEngine *e, const Workload *w)
{
    size_t i;

    for (i = 0; i < w->nframes; i++) {
        const Frame *f = &w->frames[i];

        if (unlikely(net_rsc_receive(e, NULL, w->data + f->off, f->len,
                                     f->ts_ns) != NET_RSC_TAKEN)) {
            fprintf(stderr, "rsc-bench: engine stalled\n");
            exit(1);
        }
    }
    net_rsc_flush(e);
}

static double time_feed(NetRscEngine *e, const Workload *w)
{
    double t0 = now_s();

    feed_all(e, w);
    return now_s() - t0;
}

/* Copy each TCP payload once into a 64 KiB ring */
static BENCH_NOIPA void memcpy_all(const Workload *w, uint8_t *ring)
{
    size_t off = 0;
    size_t i;

    for (i = 0; i < w->nframes; i++) {
        const Frame *f = &w->frames[i];

        if (!f->pay_len) {
            continue;
        }
        if (off + f->pay_len > RING_LEN) {
            off = 0;
        }
        memcpy(ring + off, w->data + f->off + f->pay_off, f->pay_len);
        off += f->pay_len;
    }
}

static double time_memcpy(const Workload *w, uint8_t *ring)
{
    double t0 = now_s();

    memcpy_all(w, ring);
    return now_s() - t0;
}

/*
 * Untimed pass with a fresh engine: coalescing ratio, payload accounting,
 * and net_rsc_memory() after every frame.
 */
static void engine_check(const Workload *w, uint32_t max_flows, Result *r)
{
    Sink sink = { 0 };
    NetRscEngine *e = engine_new(max_flows, deliver_check, &sink);
    size_t i;

    r->mem_peak = net_rsc_memory(e);
    for (i = 0; i < w->nframes; i++) {
        const Frame *f = &w->frames[i];
        size_t m;

        net_rsc_receive(e, NULL, w->data + f->off, f->len, f->ts_ns);
        m = net_rsc_memory(e);
        r->mem_peak = MAX(r->mem_peak, m);
    }
    net_rsc_flush(e);
    r->mem_bound = net_rsc_memory_bound(e);
    r->evictions = net_rsc_stats(e)->evictions;
    r->ratio = sink.data_pkts ? (double)w->data_segs / sink.data_pkts : 0;
    if (sink.payload != w->payload) {
        fprintf(stderr, "rsc-bench: %s: engine delivered %" PRIu64
                " payload bytes of %" PRIu64 "\n", w->name, sink.payload,
                w->payload);
    }
    net_rsc_free(e);
}

/* DPDK GRO */

#ifdef CONFIG_DPDK
#define DPDK_BURST      32
#define DPDK_FRAME_MAX  1536
/* testpmd's largest "set port <id> gro flush <cycles>" */
#define DPDK_CTX_BURSTS 4

typedef struct Dpdk {
    bool ok;
    char eal_mem[16];
    struct rte_mempool *pool;
    struct rte_mbuf **in;
    struct rte_mbuf **out;
    size_t cap;
} Dpdk;

static Dpdk dpdk;

static void dpdk_init(size_t max_frames)
{
    size_t per_mbuf = sizeof(struct rte_mbuf) + RTE_PKTMBUF_HEADROOM +
                      DPDK_FRAME_MAX + 128;
    size_t mb = 256 + max_frames * per_mbuf / (1024 * 1024);
    char *argv[] = {
        (char *)"rsc-bench", (char *)"--no-huge", (char *)"--no-pci",
        (char *)"-m", dpdk.eal_mem, (char *)"--log-level=1", NULL
    };

    /* -m 256 plus room for one mbuf per frame of the largest workload */
    snprintf(dpdk.eal_mem, sizeof(dpdk.eal_mem), "%zu", mb);
    if (rte_eal_init(6, argv) < 0) {
        fprintf(stderr, "rsc-bench: rte_eal_init: %s\n",
                rte_strerror(rte_errno));
        return;
    }
    dpdk.cap = max_frames + DPDK_BURST;
    dpdk.pool = rte_pktmbuf_pool_create("rsc_bench", dpdk.cap, 256, 0,
                                        RTE_PKTMBUF_HEADROOM +
                                        DPDK_FRAME_MAX, rte_socket_id());
    if (!dpdk.pool) {
        fprintf(stderr, "rsc-bench: rte_pktmbuf_pool_create: %s\n",
                rte_strerror(rte_errno));
        return;
    }
    dpdk.in = g_new(struct rte_mbuf *, dpdk.cap);
    dpdk.out = g_new(struct rte_mbuf *, dpdk.cap);
    dpdk.ok = true;
}

static bool dpdk_usable(const Workload *w)
{
    return dpdk.ok && !w->has_ipv6_data && w->max_len <= DPDK_FRAME_MAX &&
           w->nframes <= dpdk.cap - DPDK_BURST;
}

/* Untimed: copy every frame into its own mbuf */
static void dpdk_build(const Workload *w)
{
    size_t i;

    if (rte_pktmbuf_alloc_bulk(dpdk.pool, dpdk.in, w->nframes)) {
        fprintf(stderr, "rsc-bench: out of mbufs\n");
        exit(1);
    }
    for (i = 0; i < w->nframes; i++) {
        const Frame *f = &w->frames[i];
        struct rte_mbuf *m = dpdk.in[i];

        memcpy(rte_pktmbuf_mtod(m, uint8_t *), w->data + f->off, f->len);
        m->data_len = f->len;
        m->pkt_len = f->len;
        m->l2_len = ETH_HLEN;
        m->l3_len = f->l3_len;
        m->l4_len = f->l4_len;
        m->packet_type = f->ipv4_tcp ?
            RTE_PTYPE_L2_ETHER | RTE_PTYPE_L3_IPV4 | RTE_PTYPE_L4_TCP :
            RTE_PTYPE_L2_ETHER;
    }
}

/* Untimed: count data packets among the outputs, free them */
static double dpdk_collect(const Workload *w, size_t nout)
{
    uint64_t data_pkts = 0;
    uint64_t payload = 0;
    size_t i;

    for (i = 0; i < nout; i++) {
        struct rte_mbuf *m = dpdk.out[i];
        const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
        uint32_t hdr = m->l2_len + m->l3_len + m->l4_len;
        uint32_t ip_len;

        if (m->l3_len && lduw_be_p(p + 12) == 0x0800) {
            ip_len = lduw_be_p(p + ETH_HLEN + 2);
            if (ETH_HLEN + ip_len > hdr) {
                data_pkts++;
                payload += m->nb_segs > 1 ? m->pkt_len - hdr :
                           ETH_HLEN + ip_len - hdr;
            }
        }
        rte_pktmbuf_free(m);
    }
    if (payload != w->payload) {
        fprintf(stderr, "rsc-bench: %s: DPDK delivered %" PRIu64
                " payload bytes of %" PRIu64 "\n", w->name, payload,
                w->payload);
    }
    return data_pkts ? (double)w->data_segs / data_pkts : 0;
}

/* rte_gro_reassemble_burst(): merges only within each burst */
static double dpdk_burst_run(const Workload *w, double *ratio)
{
    struct rte_gro_param param = {
        .gro_types = RTE_GRO_TCP_IPV4,
        .max_flow_num = DPDK_BURST,
        .max_item_per_flow = DPDK_BURST,
        .socket_id = rte_socket_id(),
    };
    size_t nout = 0;
    size_t i, j;
    double t0, t;

    dpdk_build(w);
    t0 = now_s();
    for (i = 0; i < w->nframes; i += DPDK_BURST) {
        uint16_t n = MIN(DPDK_BURST, w->nframes - i);

        n = rte_gro_reassemble_burst(dpdk.in + i, n, &param);
        for (j = 0; j < n; j++) {
            dpdk.out[nout++] = dpdk.in[i + j];
        }
    }
    t = now_s() - t0;
    *ratio = dpdk_collect(w, nout);
    return t;
}

/*
 * rte_gro_reassemble() with a context that keeps packets across bursts,
 * flushed with rte_gro_timeout_flush(ctx, 0) every DPDK_CTX_BURSTS bursts
 * and at the end, the way testpmd's GRO heavy mode runs.
 */
static double dpdk_ctx_run(const Workload *w, double *ratio)
{
    struct rte_gro_param param = {
        .gro_types = RTE_GRO_TCP_IPV4,
        .max_flow_num = DPDK_BURST * DPDK_CTX_BURSTS,
        .max_item_per_flow = 4,
        .socket_id = rte_socket_id(),
    };
    void *ctx = rte_gro_ctx_create(&param);
    size_t nout = 0;
    size_t i, j;
    double t0, t;
    uint16_t n;
    int bursts = 0;

    if (!ctx) {
        fprintf(stderr, "rsc-bench: rte_gro_ctx_create failed\n");
        exit(1);
    }
    dpdk_build(w);
    t0 = now_s();
    for (i = 0; i < w->nframes; i += DPDK_BURST) {
        n = MIN(DPDK_BURST, w->nframes - i);
        n = rte_gro_reassemble(dpdk.in + i, n, ctx);
        for (j = 0; j < n; j++) {
            dpdk.out[nout++] = dpdk.in[i + j];
        }
        if (++bursts == DPDK_CTX_BURSTS || i + DPDK_BURST >= w->nframes) {
            bursts = 0;
            do {
                n = rte_gro_timeout_flush(ctx, 0, RTE_GRO_TCP_IPV4,
                                          dpdk.out + nout,
                                          DPDK_BURST * DPDK_CTX_BURSTS);
                nout += n;
            } while (n);
        }
    }
    t = now_s() - t0;
    rte_gro_ctx_destroy(ctx);
    *ratio = dpdk_collect(w, nout);
    return t;
}
#endif

/* One workload: every measurement, runs interleaved */

static void measure(const Workload *w, const Options *o, Result *r)
{
    Sink sc = { 0 };
    Sink sp = { 0 };
    NetRscEngine *ec, *ep;
    uint8_t *ring = g_malloc0(RING_LEN);
    double *eng = g_new(double, o->runs);
    double *cp = g_new(double, o->runs);
    double *mc = g_new(double, o->runs);
    double *dp = g_new(double, o->runs);
    double *cx = g_new(double, o->runs);
    int ndp = 0, ncx = 0;
#ifdef CONFIG_DPDK
    double dp_sum = 0, cx_sum = 0;
#endif
    double n = w->nframes;
    int i;

    memset(r, 0, sizeof(*r));
    r->dpdk_ns = r->ctx_ns = -1;
    r->dpdk_ratio = r->ctx_ratio = -1;
    engine_check(w, o->max_flows, r);

    sp.copy_buf = g_malloc0(NET_RSC_BUF_MAX);
    ec = engine_new(o->max_flows, deliver_count, &sc);
    ep = engine_new(o->max_flows, deliver_copy, &sp);
    /* warm up: unit buffers reach their size, pages are touched */
    feed_all(ec, w);
    feed_all(ep, w);
    memcpy_all(w, ring);

    for (i = 0; i < o->runs; i++) {
        eng[i] = time_feed(ec, w);
        cp[i] = time_feed(ep, w);
        mc[i] = time_memcpy(w, ring);
#ifdef CONFIG_DPDK
        if (dpdk_usable(w) && !(ndp >= 3 && dp_sum > SLOW_BUDGET_S)) {
            dp[ndp] = dpdk_burst_run(w, &r->dpdk_ratio);
            dp_sum += dp[ndp++];
        }
        if (dpdk_usable(w) && !(ncx >= 3 && cx_sum > SLOW_BUDGET_S)) {
            cx[ncx] = dpdk_ctx_run(w, &r->ctx_ratio);
            cx_sum += cx[ncx++];
        }
#endif
    }
    r->eng_ns = median(eng, o->runs) * 1e9 / n;
    r->copy_ns = median(cp, o->runs) * 1e9 / n;
    r->memcpy_ns = median(mc, o->runs) * 1e9 / n;
    if (ndp) {
        r->dpdk_ns = median(dp, ndp) * 1e9 / n;
    }
    if (ncx) {
        r->ctx_ns = median(cx, ncx) * 1e9 / n;
    }

    net_rsc_free(ec);
    net_rsc_free(ep);
    g_free(sp.copy_buf);
    g_free(ring);
    g_free(eng);
    g_free(cp);
    g_free(mc);
    g_free(dp);
    g_free(cx);
}

/* Output */

static void put_num(double v, const char *fmt, int width)
{
    char buf[32];

    if (v < 0) {
        printf(" %*s", width, "n/a");
    } else {
        snprintf(buf, sizeof(buf), fmt, v);
        printf(" %*s", width, buf);
    }
}

static void print_header(void)
{
    printf("%-18s %6s %8s | %-22s | %6s | %-6s | %-20s | %s\n",
           "", "", "", "engine", "memcpy", "engine", "DPDK GRO burst",
           "DPDK GRO ctx");
    printf("%-18s %6s %8s | %6s %6s %8s | %6s | %6s | %6s %6s %6s |"
           " %6s %6s %6s\n", "workload", "flows", "segments",
           "Mseg/s", "ns/seg", "+copy ns", "ns/seg", "ratio",
           "Mseg/s", "ns/seg", "ratio", "Mseg/s", "ns/seg", "ratio");
}

static void print_row(const Workload *w, const Result *r)
{
    printf("%-18s %6u %8zu |", w->name, w->flows, w->nframes);
    put_num(1e3 / r->eng_ns, "%.2f", 6);
    put_num(r->eng_ns, "%.1f", 6);
    put_num(r->copy_ns, "%.1f", 8);
    printf(" |");
    put_num(r->memcpy_ns, "%.1f", 6);
    printf(" |");
    put_num(r->ratio, "%.1f", 6);
    printf(" |");
    put_num(r->dpdk_ns < 0 ? -1 : 1e3 / r->dpdk_ns, "%.2f", 6);
    put_num(r->dpdk_ns, "%.1f", 6);
    put_num(r->dpdk_ratio, "%.1f", 6);
    printf(" |");
    put_num(r->ctx_ns < 0 ? -1 : 1e3 / r->ctx_ns, "%.2f", 6);
    put_num(r->ctx_ns, "%.1f", 6);
    put_num(r->ctx_ratio, "%.1f", 6);
    printf("\n");
    fflush(stdout);
}

static void csv_row(FILE *f, const Workload *w, const Result *r)
{
    fprintf(f, "%s,%u,%zu,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f\n",
            w->name, w->flows, w->nframes, r->eng_ns, r->copy_ns,
            r->memcpy_ns, r->dpdk_ns < 0 ? NAN : r->dpdk_ns,
            r->ctx_ns < 0 ? NAN : r->ctx_ns, r->ratio,
            r->dpdk_ratio < 0 ? NAN : r->dpdk_ratio,
            r->ctx_ratio < 0 ? NAN : r->ctx_ratio);
    fflush(f);
}

static const char *pass(bool ok)
{
    return ok ? "PASS" : "FAIL";
}

/* Fixed workload for bench/callgrind-check.sh: only this is counted */
static BENCH_NOIPA void callgrind_run(NetRscEngine *e, const Workload *w)
{
    feed_all(e, w);
}

static int run_callgrind(void)
{
    Workload w;
    Sink sink = { 0 };
    NetRscEngine *e = engine_new(NET_RSC_DEFAULT_FLOWS, deliver_count,
                                 &sink);

    make_bulk(&w, CALLGRIND_FLOWS, CALLGRIND_SEGMENTS);
    feed_all(e, &w);            /* warm up, not counted */
    sink.pkts = 0;
    callgrind_run(e, &w);
    printf("callgrind: %u flows, packets out %" PRIu64 "\n",
           CALLGRIND_FLOWS, sink.pkts);
    printf("callgrind-segments: %zu\n", w.nframes);
    net_rsc_free(e);
    work_free(&w);
    return 0;
}

static void usage(void)
{
    printf("usage: rsc-bench [options] [trace.pcap...]\n"
           "  --segments N    frames per bulk/pcap workload (200000)\n"
           "  --runs N        timed runs, the median is shown (7)\n"
           "  --flows LIST    bulk flow counts (1,16,256,4096)\n"
           "  --max-flows N   engine units, max_flows (4096)\n"
           "  --bulk-only     bulk workloads only (for bench/plot.sh)\n"
           "  --pcap-dir DIR  read DIR/*.pcap unless traces are named "
           "(tests/data)\n"
           "  --no-dpdk       skip DPDK GRO\n"
           "  --csv FILE      also write results as CSV\n"
           "  --callgrind     run the fixed workload that\n"
           "                  bench/callgrind-check.sh counts\n");
}

static bool parse_flows(Options *o, const char *s)
{
    g_auto(GStrv) parts = g_strsplit(s, ",", 16);
    int i;

    o->nflows = 0;
    for (i = 0; parts[i]; i++) {
        long v = strtol(parts[i], NULL, 10);

        if (v < 1 || v > 1000000) {
            return false;
        }
        o->flows[o->nflows++] = v;
    }
    return o->nflows > 0;
}

static void parse_args(Options *o, int argc, char **argv)
{
    int i;

    *o = (Options) {
        .segments = 200000, .runs = 7, .max_flows = 4096,
        .flows = { 1, 16, 256, 4096 }, .nflows = 4,
        .pcap_dir = "tests/data",
    };
    o->pcaps = g_new0(char *, argc);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--callgrind")) {
            o->callgrind = true;
        } else if (!strcmp(a, "--bulk-only")) {
            o->bulk_only = true;
        } else if (!strcmp(a, "--no-dpdk")) {
            o->no_dpdk = true;
        } else if (!strcmp(a, "--segments") && v) {
            o->segments = strtoul(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--runs") && v) {
            o->runs = atoi(v);
            i++;
        } else if (!strcmp(a, "--max-flows") && v) {
            o->max_flows = strtoul(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--flows") && v && parse_flows(o, v)) {
            i++;
        } else if (!strcmp(a, "--pcap-dir") && v) {
            o->pcap_dir = v;
            i++;
        } else if (!strcmp(a, "--csv") && v) {
            o->csv = v;
            i++;
        } else if (a[0] != '-') {
            o->pcaps[o->npcaps++] = argv[i];
        } else {
            usage();
            exit(strcmp(a, "--help") && strcmp(a, "-h") ? 2 : 0);
        }
    }
    if (o->runs < 1 || o->segments < 1 || o->max_flows < 1 ||
        o->max_flows > NET_RSC_MAX_FLOWS) {
        usage();
        exit(2);
    }
}

int main(int argc, char **argv)
{
    Options o;
    Workload *works;
    Result *res;
    Result adv = { 0 };
    glob_t g = { 0 };
    char **pcaps;
    int npcaps, nworks = 0, nw, i;
    size_t max_frames = 0;
    uint32_t x = 2463534242u;
    double eng1 = -1, eng4k = -1, cp1 = -1, cp4k = -1;
    FILE *csv = NULL;

    parse_args(&o, argc, argv);
    for (i = 0; i < (int)sizeof(pattern); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        pattern[i] = x;
    }
    if (o.callgrind) {
        return run_callgrind();
    }

    pcaps = o.pcaps;
    npcaps = o.npcaps;
    if (!npcaps && !o.bulk_only) {
        g_autofree char *pat = g_strdup_printf("%s/*.pcap", o.pcap_dir);

        if (glob(pat, 0, NULL, &g) == 0) {
            pcaps = g.gl_pathv;
            npcaps = g.gl_pathc;
        }
    }
    if (o.bulk_only) {
        npcaps = 0;
    }
    nw = o.nflows + (o.bulk_only ? 0 : 1) + 2 * npcaps;
    works = g_new0(Workload, nw);
    res = g_new0(Result, nw);

    /* traces are small: load them first, so DPDK knows the largest */
    for (i = 0; i < 2 * npcaps; i++) {
        if (load_pcap(&works[nworks], pcaps[i / 2], o.segments, i & 1)) {
            max_frames = MAX(max_frames, works[nworks].nframes);
            nworks++;
        }
    }
    max_frames = MAX(max_frames, o.segments);
    max_frames = MAX(max_frames, ADVERSARIAL_FLOWS);

    printf("rsc-bench: engine max_flows %u, interval %d ns, no virtio-net "
           "header (engine verifies checksums); median of %d runs\n",
           o.max_flows, NET_RSC_DEFAULT_INTERVAL_NS, o.runs);
#ifdef CONFIG_DPDK
    if (!o.no_dpdk) {
        dpdk_init(max_frames);
    }
    if (dpdk.ok) {
        printf("%s: EAL --no-huge --no-pci -m %s --log-level=1\n",
               rte_version(), dpdk.eal_mem);
    } else {
        printf("DPDK: not used\n");
    }
#else
    printf("DPDK: not built (libdpdk not found)\n");
#endif
    if (o.csv) {
        csv = fopen(o.csv, "w");
        if (!csv) {
            perror(o.csv);
            return 1;
        }
        fprintf(csv, "workload,flows,segments,engine_ns,engine_copy_ns,"
                "memcpy_ns,dpdk_ns,dpdk_ctx_ns,ratio_engine,ratio_dpdk,"
                "ratio_dpdk_ctx\n");
    }
    printf("\n");
    print_header();

    /* bulk workloads, generated one at a time, then traces */
    for (i = 0; i < o.nflows + (o.bulk_only ? 0 : 1) + nworks; i++) {
        Workload tmp;
        Workload *w;
        Result *r = &res[i];

        if (i < o.nflows) {
            make_bulk(&tmp, o.flows[i], o.segments);
            w = &tmp;
        } else if (!o.bulk_only && i == o.nflows) {
            make_adversarial(&tmp, ADVERSARIAL_FLOWS);
            w = &tmp;
        } else {
            w = &works[i - o.nflows - (o.bulk_only ? 0 : 1)];
        }
        measure(w, &o, r);
        print_row(w, r);
        if (csv) {
            csv_row(csv, w, r);
        }
        if (w->kind == WORK_BULK && w->flows == 1) {
            eng1 = r->eng_ns;
            cp1 = r->copy_ns;
        }
        if (w->kind == WORK_BULK && w->flows == 4096) {
            eng4k = r->eng_ns;
            cp4k = r->copy_ns;
        }
        if (w->kind == WORK_ADVERSARIAL) {
            adv = *r;
        }
        if (w->kind != WORK_ADVERSARIAL) {
            printf("%-18s targets: %.2f Mseg/s >= %.1f %s; "
                   "+copy %.2fx memcpy <= %.1fx %s", "",
                   1e3 / r->eng_ns, TARGET_MSEGS,
                   pass(1e3 / r->eng_ns >= TARGET_MSEGS),
                   r->copy_ns / r->memcpy_ns, TARGET_COPY_X,
                   pass(r->copy_ns <= TARGET_COPY_X * r->memcpy_ns));
            if (r->dpdk_ratio >= 0 || r->ctx_ratio >= 0) {
                printf("; ratio >= DPDK %s",
                       pass(r->ratio >= r->dpdk_ratio &&
                            r->ratio >= r->ctx_ratio));
            }
            printf("\n");
        }
        if (w == &tmp) {
            work_free(&tmp);
        }
    }

    printf("\nsegments: frames fed; ratio: data segments in / data packets "
           "out.\n"
           "engine: deliver callback only counts; +copy: it memcpy's each "
           "packet to a\n64 KiB buffer (the copy into guest memory); "
           "memcpy: each TCP payload copied\nonce to a 64 KiB ring.  "
           "Traces are repeated to fill the segment count: as copies\n"
           "streamed from memory, or /hot: the same bytes fed again, in "
           "the cache as a\nframe just read from a tap device is.\n");
#ifdef CONFIG_DPDK
    printf("DPDK GRO gets pre-built mbufs (frame copy not timed) and does "
           "NOT validate\nchecksums; the engine does.  burst: "
           "rte_gro_reassemble_burst(), 32 packets,\nmerges within a burst "
           "only; ctx: rte_gro_reassemble() with a context,\n"
           "rte_gro_timeout_flush(ctx, 0) every %d bursts (%d packets, as "
           "testpmd's GRO heavy\nmode at its largest flush cycles).  "
           "n/a: IPv6 (DPDK 22.11 has no TCP/IPv6\nGRO).  Slow DPDK cases "
           "stop after 3 runs past %.0f s.\n", DPDK_CTX_BURSTS,
           DPDK_CTX_BURSTS * DPDK_BURST, SLOW_BUDGET_S);
#endif

    printf("\nsummary\n");
    if (!o.bulk_only) {
        Result *r = &adv;

        printf("  new-flows (%u): net_rsc_memory() peak %zu bytes "
               "(%.1f MiB) <= bound %zu (%.1f MiB): %s; evictions %"
               PRIu64 "\n", ADVERSARIAL_FLOWS, r->mem_peak,
               r->mem_peak / 1048576.0, r->mem_bound,
               r->mem_bound / 1048576.0, pass(r->mem_peak <= r->mem_bound),
               r->evictions);
    }
    if (eng1 > 0 && eng4k > 0) {
        printf("  flatness engine ns/seg 4096 flows / 1 flow = %.2f "
               "(<= %.1f): %s\n", eng4k / eng1, TARGET_FLAT_X,
               pass(eng4k / eng1 <= TARGET_FLAT_X));
        printf("  flatness engine+copy 4096 / 1 = %.2f (<= %.1f): %s\n",
               cp4k / cp1, TARGET_FLAT_X, pass(cp4k / cp1 <= TARGET_FLAT_X));
    }
    if (csv) {
        fclose(csv);
    }
    for (i = 0; i < nworks; i++) {
        work_free(&works[i]);
    }
    g_free(works);
    g_free(res);
    g_free(o.pcaps);
    globfree(&g);
#ifdef CONFIG_DPDK
    if (dpdk.ok) {
        rte_eal_cleanup();
    }
#endif
    return 0;
}
