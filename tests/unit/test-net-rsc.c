/*
 * Unit tests for the TCP receive segment coalescing (RSC) engine
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every test feeds frames built by rsc-frames.c with a clock it chooses
 * itself, captures what the engine delivers, and compares it byte for byte
 * with frames built independently, as include/net/rsc.h specifies them.
 */

#include "qemu/osdep.h"
#include "net/rsc.h"
#include "rsc-frames.h"

#define MSS         1448
#define T0          1000000000LL
#define INTERVAL    NET_RSC_DEFAULT_INTERVAL_NS

/* One packet the engine delivered */
typedef struct Pkt {
    NetRscHdr hdr;
    GByteArray *data;
} Pkt;

typedef struct Ctx {
    NetRscEngine *e;
    GPtrArray *out;         /* of Pkt */
    bool refuse;            /* the guest has no room */
    unsigned refuse_every;  /* if not 0, refuse every n-th call too */
    unsigned calls;
    unsigned refusals;
} Ctx;

static const NetRscHdr hdr_zero;
static const NetRscHdr hdr_data_valid = { .flags = NET_RSC_F_DATA_VALID };

/* A frame with its backend header, waiting to be fed */
typedef struct Held {
    NetRscHdr hdr;
    GByteArray *f;
} Held;

static void held_free(gpointer p)
{
    Held *h = p;

    g_byte_array_unref(h->f);
    g_free(h);
}

static void pkt_free(gpointer p)
{
    Pkt *pkt = p;

    g_byte_array_unref(pkt->data);
    g_free(pkt);
}

static bool deliver_cb(void *opaque, const NetRscHdr *hdr,
                       const uint8_t *frame, size_t len)
{
    Ctx *c = opaque;
    Pkt *p;

    g_assert_nonnull(hdr);
    g_assert_true(frame != NULL || len == 0);
    c->calls++;
    if (c->refuse || (c->refuse_every && c->calls % c->refuse_every == 0)) {
        c->refusals++;
        return false;
    }
    p = g_new0(Pkt, 1);
    p->hdr = *hdr;
    p->data = g_byte_array_sized_new(len);
    if (len) {
        g_byte_array_append(p->data, frame, len);
    }
    g_ptr_array_add(c->out, p);
    return true;
}

static void ctx_init_mode(Ctx *c, NetRscMode mode, uint32_t max_flows,
                          int64_t interval)
{
    NetRscConfig cfg = {
        .mode = mode,
        .max_flows = max_flows,
        .interval_ns = interval,
        .hash_seed = 0x5eed1234,
        .deliver = deliver_cb,
        .opaque = c,
    };

    memset(c, 0, sizeof(*c));
    c->out = g_ptr_array_new_with_free_func(pkt_free);
    c->e = net_rsc_new(&cfg);
    g_assert_nonnull(c->e);
    g_assert_cmpint(net_rsc_deadline(c->e), ==, INT64_MAX);
    g_assert_cmpuint(net_rsc_pending(c->e), ==, 0);
    g_assert_false(net_rsc_stalled(c->e));
}

static void ctx_init(Ctx *c, uint32_t max_flows, int64_t interval)
{
    ctx_init_mode(c, NET_RSC_MODE_RSC_EXT, max_flows, interval);
}

static void ctx_cleanup(Ctx *c)
{
    g_assert_cmpuint(net_rsc_memory(c->e), <=, net_rsc_memory_bound(c->e));
    net_rsc_free(c->e);
    g_ptr_array_unref(c->out);
}

static Pkt *out_pkt(Ctx *c, guint i)
{
    g_assert_cmpuint(i, <, c->out->len);
    return g_ptr_array_index(c->out, i);
}

static const NetRscStats *stats(Ctx *c)
{
    return net_rsc_stats(c->e);
}

static NetRscStatus receive(Ctx *c, const NetRscHdr *hdr, GByteArray *f,
                            int64_t now)
{
    return net_rsc_receive(c->e, hdr, f->data, f->len, now);
}

/* Feed a frame that must be taken, and drop our reference to it */
static void feed(Ctx *c, const NetRscHdr *hdr, GByteArray *f, int64_t now)
{
    g_assert_cmpint(receive(c, hdr, f, now), ==, NET_RSC_TAKEN);
    g_assert_cmpuint(net_rsc_memory(c->e), <=, net_rsc_memory_bound(c->e));
    g_byte_array_unref(f);
}

static void feed_spec(Ctx *c, const NetRscHdr *hdr, const RscFrameSpec *s,
                      int64_t now)
{
    feed(c, hdr, rsc_frame_build(s), now);
}

/* Data segment number @idx of a flow: MSS bytes at ISN + idx * MSS */
static void mss_spec(RscFrameSpec *s, int ipv, unsigned flow, unsigned idx,
                     bool ts)
{
    rsc_frame_spec_init(s, ipv, flow);
    s->seq += idx * MSS;
    s->payload_len = MSS;
    s->ts = ts;
    s->tsval += idx;
    s->ip_id += idx;
}

static void assert_bytes(const GByteArray *got, const GByteArray *exp)
{
    guint i;

    g_assert_cmpuint(got->len, ==, exp->len);
    for (i = 0; i < exp->len && got->data[i] == exp->data[i]; i++) {
        /* find the first difference */
    }
    if (i < exp->len) {
        g_test_message("frames differ at byte %u: got 0x%02x, "
                       "expected 0x%02x", i, got->data[i], exp->data[i]);
    }
    g_assert_cmpuint(i, ==, exp->len);
}

static void assert_hdr(const NetRscHdr *got, const NetRscHdr *exp)
{
    g_assert_cmpuint(got->flags, ==, exp->flags);
    g_assert_cmpuint(got->gso_type, ==, exp->gso_type);
    g_assert_cmpuint(got->hdr_len, ==, exp->hdr_len);
    g_assert_cmpuint(got->gso_size, ==, exp->gso_size);
    g_assert_cmpuint(got->csum_start, ==, exp->csum_start);
    g_assert_cmpuint(got->csum_offset, ==, exp->csum_offset);
    g_assert_cmpuint(got->segments, ==, exp->segments);
    g_assert_cmpuint(got->dup_acks, ==, exp->dup_acks);
}

/* @p is the fed frame @s, untouched, with the backend header @in */
static void assert_single(const Pkt *p, const NetRscHdr *in,
                          const RscFrameSpec *s)
{
    g_autoptr(GByteArray) exp = rsc_frame_build(s);

    assert_bytes(p->data, exp);
    assert_hdr(&p->hdr, in ? in : &hdr_zero);
}

/*
 * @p is a coalesced packet equal to the frame @exp_spec describes, made of
 * @segs data segments of at most @gso_size bytes and @dups duplicate ACKs.
 */
static void assert_coalesced(const Pkt *p, const RscFrameSpec *exp_spec,
                             uint16_t gso_size, uint16_t segs, uint16_t dups)
{
    g_autoptr(GByteArray) exp = rsc_frame_build(exp_spec);

    assert_bytes(p->data, exp);
    g_assert_cmpuint(p->hdr.flags, ==,
                     NET_RSC_F_NEEDS_CSUM | NET_RSC_F_RSC_INFO);
    g_assert_cmpuint(p->hdr.gso_type, ==, exp_spec->ip_version == 4 ?
                     NET_RSC_GSO_TCPV4 : NET_RSC_GSO_TCPV6);
    g_assert_cmpuint(p->hdr.gso_size, ==, gso_size);
    g_assert_cmpuint(p->hdr.hdr_len, ==, rsc_frame_hdr_len(exp_spec));
    g_assert_cmpuint(p->hdr.segments, ==, segs);
    g_assert_cmpuint(p->hdr.dup_acks, ==, dups);
}

/* @p is @n MSS-sized segments @s[0..n-1] of one flow merged, no dup ACKs */
static void assert_merged(const Pkt *p, const RscFrameSpec *s, unsigned n)
{
    RscFrameSpec exp = s[0];

    exp.payload_len = n * MSS;
    exp.tsval = s[n - 1].tsval;
    assert_coalesced(p, &exp, MSS, n, 0);
}

static void assert_stats(Ctx *c, const NetRscStats *exp)
{
    const NetRscStats *st = stats(c);

    g_assert_cmpuint(st->received, ==, exp->received);
    g_assert_cmpuint(st->coalesced_pkts, ==, exp->coalesced_pkts);
    g_assert_cmpuint(st->coalesced_octets, ==, exp->coalesced_octets);
    g_assert_cmpuint(st->coalesce_events, ==, exp->coalesce_events);
    g_assert_cmpuint(st->aborts, ==, exp->aborts);
    g_assert_cmpuint(st->bypassed, ==, exp->bypassed);
    g_assert_cmpuint(st->finalized, ==, exp->finalized);
    g_assert_cmpuint(st->dup_acks, ==, exp->dup_acks);
    g_assert_cmpuint(st->window_updates, ==, exp->window_updates);
    g_assert_cmpuint(st->delivered, ==, exp->delivered);
    g_assert_cmpuint(st->timer_drains, ==, exp->timer_drains);
    g_assert_cmpuint(st->evictions, ==, exp->evictions);
    g_assert_cmpuint(st->size_limit, ==, exp->size_limit);
    g_assert_cmpuint(st->refused, ==, exp->refused);
}

/*
 * Most a unit's buffer may take for packets of at most @len bytes.  A
 * buffer grows on demand, by doubling, up to NET_RSC_BUF_MAX (rsc.h,
 * Memory): one that had to grow to hold @len bytes was smaller than @len
 * before its last doubling, so it holds less than 2 * @len.  For two MSS
 * segments that is a few KiB, where a unit that took NET_RSC_BUF_MAX at
 * once would cost 64 KiB whatever it carries.
 */
static size_t unit_memory_max(size_t len)
{
    return 2 * len;
}

/* Index of the delivered packet of TCP source port @sport, -1 if none */
static int find_flow(Ctx *c, uint16_t sport, guint from)
{
    guint i;

    for (i = from; i < c->out->len; i++) {
        Pkt *p = g_ptr_array_index(c->out, i);
        RscFrameInfo info;

        if (rsc_frame_parse(p->data->data, p->data->len, &info) &&
            info.sport == sport) {
            return i;
        }
    }
    return -1;
}

/*
 * Coalescing of in-order MSS segments
 */

typedef struct CoalesceCase {
    int ipv;
    bool ts;
    bool poll;
} CoalesceCase;

static void test_coalesce(gconstpointer opaque)
{
    const CoalesceCase *cc = opaque;
    const unsigned n = 4;
    RscFrameSpec s[4], exp;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < n; i++) {
        mss_spec(&s[i], cc->ipv, 0, i, cc->ts);
        /* piggy-backed ACK and window advance */
        s[i].ack += 10 * i;
        s[i].window += i;
        s[i].tsecr += 3 * i;
        feed_spec(&c, &hdr_data_valid, &s[i], T0 + 10 * i);
        g_assert_cmpuint(c.out->len, ==, 0);
        g_assert_cmpuint(net_rsc_pending(c.e), ==, 1);
        g_assert_cmpint(net_rsc_deadline(c.e), ==, T0 + INTERVAL);
    }

    if (cc->poll) {
        net_rsc_poll(c.e, T0 + INTERVAL - 1);
        g_assert_cmpuint(c.out->len, ==, 0);
        g_assert_cmpuint(net_rsc_pending(c.e), ==, 1);
        net_rsc_poll(c.e, T0 + INTERVAL);
    } else {
        net_rsc_flush(c.e);
    }
    g_assert_cmpuint(c.out->len, ==, 1);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, INT64_MAX);

    /* first segment's headers, latest ACK/window/timestamps */
    exp = s[0];
    exp.payload_len = n * MSS;
    exp.ack = s[n - 1].ack;
    exp.window = s[n - 1].window;
    exp.tsval = s[n - 1].tsval;
    exp.tsecr = s[n - 1].tsecr;
    assert_coalesced(out_pkt(&c, 0), &exp, MSS, n, 0);

    assert_stats(&c, &(NetRscStats) {
        .received = n,
        .coalesced_pkts = n,
        .coalesced_octets = n * MSS,
        .coalesce_events = 1,
        .delivered = 1,
        .timer_drains = cc->poll ? 1 : 0,
    });

    /* nothing left behind */
    net_rsc_flush(c.e);
    net_rsc_poll(c.e, T0 + 10 * INTERVAL);
    g_assert_cmpuint(c.out->len, ==, 1);
    ctx_cleanup(&c);
}

/* Each flow has its own unit and its own deadline */
static void test_interval_per_flow(void)
{
    RscFrameSpec a[2], b[2];
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&a[i], 4, 0, i, true);
        mss_spec(&b[i], 6, 1, i, true);
    }
    feed_spec(&c, NULL, &a[0], T0);
    feed_spec(&c, NULL, &b[0], T0 + 1000);
    feed_spec(&c, NULL, &a[1], T0 + 2000);
    feed_spec(&c, NULL, &b[1], T0 + 3000);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 2);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, T0 + INTERVAL);

    net_rsc_poll(c.e, T0 + INTERVAL);
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_merged(out_pkt(&c, 0), &a[0], 2);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 1);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, T0 + 1000 + INTERVAL);

    net_rsc_poll(c.e, T0 + 1000 + INTERVAL - 1);
    g_assert_cmpuint(c.out->len, ==, 1);
    net_rsc_poll(c.e, T0 + 1000 + INTERVAL);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_merged(out_pkt(&c, 1), &b[0], 2);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, INT64_MAX);
    g_assert_cmpuint(stats(&c)->timer_drains, ==, 2);
    ctx_cleanup(&c);
}

/* Interleaved flows coalesce independently */
static void test_flows_interleaved(void)
{
    RscFrameSpec s[3][3];
    static const int ipv[3] = { 4, 4, 6 };
    Ctx c;
    unsigned i, f;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 3; i++) {
        for (f = 0; f < 3; f++) {
            mss_spec(&s[f][i], ipv[f], f, i, f != 1);
            feed_spec(&c, NULL, &s[f][i], T0 + i * 3 + f);
        }
    }
    g_assert_cmpuint(c.out->len, ==, 0);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 3);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 3);
    for (f = 0; f < 3; f++) {
        int k = find_flow(&c, RSC_FRAME_SPORT(f), 0);

        g_assert_cmpint(k, >=, 0);
        assert_merged(out_pkt(&c, k), &s[f][0], 3);
    }
    g_assert_cmpuint(stats(&c)->coalesce_events, ==, 3);
    g_assert_cmpuint(stats(&c)->coalesced_pkts, ==, 9);
    ctx_cleanup(&c);
}

/*
 * A single segment leaves exactly as it came
 */

static void test_single(void)
{
    RscFrameSpec s;
    NetRscHdr partial;
    Ctx c;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);

    /* backend header DATA_VALID, delivered by flush */
    mss_spec(&s, 4, 0, 0, true);
    feed_spec(&c, &hdr_data_valid, &s, T0);
    g_assert_cmpuint(c.out->len, ==, 0);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_single(out_pkt(&c, 0), &hdr_data_valid, &s);

    /* no backend header: all-zero header, delivered by the timer */
    mss_spec(&s, 6, 1, 0, true);
    feed_spec(&c, NULL, &s, T0 + 1);
    net_rsc_poll(c.e, T0 + 1 + INTERVAL - 1);
    g_assert_cmpuint(c.out->len, ==, 1);
    net_rsc_poll(c.e, T0 + 1 + INTERVAL);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_single(out_pkt(&c, 1), NULL, &s);

    /* locally generated: partial checksum, NEEDS_CSUM kept as given */
    mss_spec(&s, 4, 2, 0, false);
    s.l4_csum = RSC_CSUM_PARTIAL;
    partial = (NetRscHdr) {
        .flags = NET_RSC_F_NEEDS_CSUM,
        .csum_start = rsc_frame_l4_offset(&s),
        .csum_offset = 16,
    };
    feed_spec(&c, &partial, &s, T0 + 2);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 3);
    assert_single(out_pkt(&c, 2), &partial, &s);

    assert_stats(&c, &(NetRscStats) {
        .received = 3,
        .delivered = 3,
        .timer_drains = 1,
    });
    ctx_cleanup(&c);
}

/*
 * Checksum tests run with no backend header and (ZERO_HDR in the test
 * data, or'ed with the IP version) with an all-zero one: a header that
 * is there but has neither DATA_VALID nor NEEDS_CSUM vouches for nothing.
 */
#define ZERO_HDR    0x100

static const NetRscHdr *csum_hdr(gconstpointer opaque)
{
    return GPOINTER_TO_INT(opaque) & ZERO_HDR ? &hdr_zero : NULL;
}

/*
 * Payload lengths around the 32-byte steps of the engine's summing copy,
 * odd ones included: two segments merge byte for byte, and one byte
 * changed at the start, middle or end of a third (its checksum field as
 * it was) makes that segment an abort, delivered as it came.
 */

static void test_payload_lengths(gconstpointer opaque)
{
    static const size_t lens[] = {
        1, 2, 3, 15, 16, 17, 31, 32, 33, 34, 63, 64, 65, 95, 97, 1447, 1448,
    };
    int ipv = GPOINTER_TO_INT(opaque) & 0xff;
    const NetRscHdr *hdr = csum_hdr(opaque);
    size_t k, j;

    for (k = 0; k < G_N_ELEMENTS(lens); k++) {
        size_t len = lens[k];
        const size_t at[] = { 0, len / 2, len - 1 };

        for (j = 0; j < G_N_ELEMENTS(at); j++) {
            size_t byte = at[j];
            RscFrameSpec s[3], exp;
            GByteArray *bad;
            Ctx c;
            int i;

            ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
            for (i = 0; i < 3; i++) {
                rsc_frame_spec_init(&s[i], ipv, 0);
                s[i].seq += i * len;
                s[i].payload_len = len;
                s[i].ts = true;
                s[i].tsval += i;
                s[i].ip_id += i;
            }
            feed_spec(&c, hdr, &s[0], T0);
            feed_spec(&c, hdr, &s[1], T0);
            bad = rsc_frame_build(&s[2]);
            bad->data[rsc_frame_hdr_len(&s[2]) + byte] ^= 0x5a;
            g_byte_array_ref(bad);
            feed(&c, hdr, bad, T0);
            net_rsc_flush(c.e);

            g_assert_cmpuint(c.out->len, ==, 2);
            exp = s[0];
            exp.payload_len = 2 * len;
            exp.tsval = s[1].tsval;
            assert_coalesced(out_pkt(&c, 0), &exp, len, 2, 0);
            assert_bytes(out_pkt(&c, 1)->data, bad);
            assert_hdr(&out_pkt(&c, 1)->hdr, &hdr_zero);
            g_assert_cmpuint(stats(&c)->aborts, ==, 1);
            g_byte_array_unref(bad);
            ctx_cleanup(&c);
        }
    }
}

/*
 * A bad TCP checksum on the segment that would open a unit: it goes out
 * alone, untouched and unflagged, and the next two coalesce.
 */
static void test_csum_bad_first(gconstpointer opaque)
{
    int ipv = GPOINTER_TO_INT(opaque) & 0xff;
    const NetRscHdr *hdr = csum_hdr(opaque);
    RscFrameSpec s[3];
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 3; i++) {
        mss_spec(&s[i], ipv, 0, i, true);
    }
    s[0].l4_csum = RSC_CSUM_BAD;
    feed_spec(&c, hdr, &s[0], T0);
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_single(out_pkt(&c, 0), hdr, &s[0]);
    feed_spec(&c, hdr, &s[1], T0);
    feed_spec(&c, hdr, &s[2], T0);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_merged(out_pkt(&c, 1), &s[1], 2);
    g_assert_cmpuint(stats(&c)->aborts, ==, 1);
    ctx_cleanup(&c);
}

/*
 * Checksums: a segment the backend vouches for joins even if its checksum
 * field is not a complete one; the output carries a complete, valid one.
 */

static void test_csum_vouched(gconstpointer opaque)
{
    bool partial = GPOINTER_TO_INT(opaque);
    RscFrameSpec s[3], exp;
    NetRscHdr in;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 3; i++) {
        mss_spec(&s[i], 4, 0, i, true);
        if (partial) {
            s[i].l4_csum = RSC_CSUM_PARTIAL;
            in = (NetRscHdr) {
                .flags = NET_RSC_F_NEEDS_CSUM,
                .csum_start = rsc_frame_l4_offset(&s[i]),
                .csum_offset = 16,
            };
        } else {
            s[i].l4_csum = RSC_CSUM_BAD;
            in = hdr_data_valid;
        }
        feed_spec(&c, &in, &s[i], T0);
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 1);
    exp = s[0];
    exp.l4_csum = RSC_CSUM_OK;
    exp.payload_len = 3 * MSS;
    exp.tsval = s[2].tsval;
    assert_coalesced(out_pkt(&c, 0), &exp, MSS, 3, 0);
    g_assert_cmpuint(stats(&c)->aborts, ==, 0);
    ctx_cleanup(&c);
}

/*
 * Finalizing segments: the flow's unit leaves first, then the segment
 * untouched.
 */

enum {
    FIN_SYN, FIN_FIN, FIN_RST, FIN_URG, FIN_ECE, FIN_CWR,
    FIN_OPT_SACK, FIN_OPT_MSS, FIN_OPT_WSCALE, FIN_OPT_TWO_TS,
    FIN_IP_OPTS, FIN_IP_FRAG,
    FIN_IP6_HOPOPTS, FIN_IP6_ROUTING, FIN_IP6_DSTOPTS, FIN_IP6_FRAG,
    FIN_BAD_IP_CSUM, FIN_BAD_IP_CSUM_VOUCHED, FIN_BAD_TCP_CSUM,
    FIN_BAD_TCP_CSUM_ZERO_HDR, FIN_CSUM_WRONG_START, FIN_CSUM_WRONG_OFFSET,
    FIN_GSO, FIN_NEW_ACK, FIN_AE, FIN_TCP_RESERVED,
};

typedef struct FinCase {
    const char *name;
    int ipv;
    int kind;
    bool abort;         /* counts as an exception */
} FinCase;

static const FinCase fin_cases[] = {
    { "syn", 4, FIN_SYN, true },
    { "fin", 4, FIN_FIN, true },
    { "rst", 4, FIN_RST, true },
    { "urg", 4, FIN_URG, true },
    { "ece", 4, FIN_ECE, true },
    { "cwr", 4, FIN_CWR, true },
    { "ae", 4, FIN_AE, true },
    { "tcp-reserved", 4, FIN_TCP_RESERVED, true },
    { "opt-sack", 4, FIN_OPT_SACK, true },
    { "opt-mss", 4, FIN_OPT_MSS, true },
    { "opt-wscale", 4, FIN_OPT_WSCALE, true },
    { "opt-two-ts", 4, FIN_OPT_TWO_TS, true },
    { "ip-options", 4, FIN_IP_OPTS, true },
    { "ip-fragment", 4, FIN_IP_FRAG, true },
    { "bad-ip-csum", 4, FIN_BAD_IP_CSUM, true },
    { "bad-ip-csum-data-valid", 4, FIN_BAD_IP_CSUM_VOUCHED, true },
    { "bad-tcp-csum", 4, FIN_BAD_TCP_CSUM, true },
    { "bad-tcp-csum-zero-hdr", 4, FIN_BAD_TCP_CSUM_ZERO_HDR, true },
    { "needs-csum-wrong-start", 4, FIN_CSUM_WRONG_START, true },
    { "gso", 4, FIN_GSO, false },
    { "new-ack", 4, FIN_NEW_ACK, false },
    { "syn", 6, FIN_SYN, true },
    { "fin", 6, FIN_FIN, true },
    { "rst", 6, FIN_RST, true },
    { "ece", 6, FIN_ECE, true },
    { "ae", 6, FIN_AE, true },
    { "opt-sack", 6, FIN_OPT_SACK, true },
    { "opt-two-ts", 6, FIN_OPT_TWO_TS, true },
    { "hop-by-hop", 6, FIN_IP6_HOPOPTS, true },
    { "routing", 6, FIN_IP6_ROUTING, true },
    { "dst-options", 6, FIN_IP6_DSTOPTS, true },
    { "fragment", 6, FIN_IP6_FRAG, true },
    { "bad-tcp-csum", 6, FIN_BAD_TCP_CSUM, true },
    { "bad-tcp-csum-zero-hdr", 6, FIN_BAD_TCP_CSUM_ZERO_HDR, true },
    { "needs-csum-wrong-start", 6, FIN_CSUM_WRONG_START, true },
    { "needs-csum-wrong-offset", 6, FIN_CSUM_WRONG_OFFSET, true },
    { "gso", 6, FIN_GSO, false },
    { "new-ack", 6, FIN_NEW_ACK, false },
};

/* Make @s, segment 2 of flow 0, into a finalizing segment of kind @kind */
static void fin_make(int kind, RscFrameSpec *s, NetRscHdr *hdr, bool *has_hdr)
{
    *has_hdr = false;
    switch (kind) {
    case FIN_SYN:
        s->tcp_flags = RSC_TCP_SYN;
        s->payload_len = 0;
        break;
    case FIN_FIN:
        s->tcp_flags = RSC_TCP_FIN | RSC_TCP_ACK;
        s->payload_len = 100;
        break;
    case FIN_RST:
        s->tcp_flags = RSC_TCP_RST | RSC_TCP_ACK;
        s->payload_len = 0;
        break;
    case FIN_URG:
        s->tcp_flags = RSC_TCP_URG | RSC_TCP_ACK;
        s->urg_ptr = 100;
        break;
    case FIN_ECE:
        s->tcp_flags = RSC_TCP_ECE | RSC_TCP_ACK;
        break;
    case FIN_CWR:
        s->tcp_flags = RSC_TCP_CWR | RSC_TCP_ACK;
        break;
    case FIN_OPT_SACK: {
        static const uint8_t sack[12] = {
            1, 1, 5, 10, 0x30, 0, 0, 0, 0x30, 0, 0x10, 0
        };
        memcpy(s->tcp_opts, sack, sizeof(sack));
        s->tcp_opts_len = sizeof(sack);
        break;
    }
    case FIN_OPT_MSS: {
        static const uint8_t mss[4] = { 2, 4, 0x05, 0xa8 };
        memcpy(s->tcp_opts, mss, sizeof(mss));
        s->tcp_opts_len = sizeof(mss);
        break;
    }
    case FIN_OPT_WSCALE: {
        static const uint8_t ws[4] = { 1, 3, 3, 7 };
        memcpy(s->tcp_opts, ws, sizeof(ws));
        s->tcp_opts_len = sizeof(ws);
        break;
    }
    case FIN_OPT_TWO_TS: {
        /* the timestamp option again: NOP NOP TS 1002 5000, as the first */
        static const uint8_t ts[12] = {
            1, 1, 8, 10, 0, 0, 0x03, 0xea, 0, 0, 0x13, 0x88
        };
        g_assert_cmpuint(s->tsval, ==, 0x3ea);
        g_assert_cmpuint(s->tsecr, ==, 0x1388);
        memcpy(s->tcp_opts, ts, sizeof(ts));
        s->tcp_opts_len = sizeof(ts);
        break;
    }
    case FIN_IP_OPTS: {
        static const uint8_t ra[4] = { 0x94, 0x04, 0x00, 0x00 };
        memcpy(s->ip_opts, ra, sizeof(ra));
        s->ip_opts_len = sizeof(ra);
        break;
    }
    case FIN_IP_FRAG:
        s->frag = RSC_IP_MF;
        break;
    case FIN_IP6_HOPOPTS:
        s->ext_hdr = RSC_IPV6_HOPOPTS;
        break;
    case FIN_IP6_ROUTING:
        s->ext_hdr = RSC_IPV6_ROUTING;
        break;
    case FIN_IP6_DSTOPTS:
        s->ext_hdr = RSC_IPV6_DSTOPTS;
        break;
    case FIN_IP6_FRAG:
        s->ext_hdr = RSC_IPV6_FRAGMENT;
        s->ext_frag = 1;            /* offset 0, more fragments */
        break;
    case FIN_BAD_IP_CSUM:
        s->bad_ip_csum = true;
        break;
    case FIN_BAD_IP_CSUM_VOUCHED:
        s->bad_ip_csum = true;
        *hdr = hdr_data_valid;
        *has_hdr = true;
        break;
    case FIN_BAD_TCP_CSUM:
        s->l4_csum = RSC_CSUM_BAD;
        break;
    case FIN_BAD_TCP_CSUM_ZERO_HDR:
        s->l4_csum = RSC_CSUM_BAD;
        *hdr = hdr_zero;
        *has_hdr = true;
        break;
    case FIN_CSUM_WRONG_START:
    case FIN_CSUM_WRONG_OFFSET:
        /*
         * NEEDS_CSUM vouches for a partial checksum only where csum_start
         * and csum_offset say it is: here the IP header's destination
         * address, or UDP's checksum field
         */
        s->l4_csum = RSC_CSUM_BAD;
        *hdr = (NetRscHdr) {
            .flags = NET_RSC_F_NEEDS_CSUM,
            .csum_start = kind == FIN_CSUM_WRONG_START ?
                          rsc_frame_l3_offset(s) : rsc_frame_l4_offset(s),
            .csum_offset = kind == FIN_CSUM_WRONG_START ? 16 : 6,
        };
        *has_hdr = true;
        break;
    case FIN_GSO:
        s->payload_len = 2 * MSS;
        s->l4_csum = RSC_CSUM_PARTIAL;
        *hdr = (NetRscHdr) {
            .flags = NET_RSC_F_NEEDS_CSUM,
            .gso_type = s->ip_version == 4 ?
                        NET_RSC_GSO_TCPV4 : NET_RSC_GSO_TCPV6,
            .hdr_len = rsc_frame_hdr_len(s),
            .gso_size = MSS,
            .csum_start = rsc_frame_l4_offset(s),
            .csum_offset = 16,
        };
        *has_hdr = true;
        break;
    case FIN_NEW_ACK:
        s->payload_len = 0;
        s->ack += 5000;
        break;
    case FIN_AE:
        /* AccECN's third counter bit (RFC 9768) */
        s->tcp_flags_hi = 0x01;
        break;
    case FIN_TCP_RESERVED:
        s->tcp_flags_hi = 0x08;
        break;
    default:
        g_assert_not_reached();
    }
}

static void test_finalize(gconstpointer opaque)
{
    const FinCase *fc = opaque;
    RscFrameSpec d[2], fs;
    NetRscHdr fh, exp_hdr;
    bool has_hdr;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        /* no backend header: the engine checks the checksums itself */
        mss_spec(&d[i], fc->ipv, 0, i, true);
        feed_spec(&c, NULL, &d[i], T0 + i);
    }
    g_assert_cmpuint(c.out->len, ==, 0);

    mss_spec(&fs, fc->ipv, 0, 2, true);
    fin_make(fc->kind, &fs, &fh, &has_hdr);
    feed_spec(&c, has_hdr ? &fh : NULL, &fs, T0 + 2);
    exp_hdr = fh;
    if (fc->kind == FIN_GSO) {
        /* a GSO packet: RSC_INFO with its segments (see test_gso_backend) */
        exp_hdr.flags |= NET_RSC_F_RSC_INFO;
        exp_hdr.segments = 2;
    }

    /* [pending coalesced data, finalizing frame untouched], at once */
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_merged(out_pkt(&c, 0), &d[0], 2);
    assert_single(out_pkt(&c, 1), has_hdr ? &exp_hdr : NULL, &fs);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);

    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);

    g_assert_cmpuint(stats(&c)->received, ==, 3);
    g_assert_cmpuint(stats(&c)->delivered, ==, 2);
    g_assert_cmpuint(stats(&c)->coalesce_events, ==, 1);
    g_assert_cmpuint(stats(&c)->coalesced_pkts, ==, 2);
    g_assert_cmpuint(stats(&c)->coalesced_octets, ==, 2 * MSS);
    g_assert_cmpuint(stats(&c)->finalized, ==, 1);
    g_assert_cmpuint(stats(&c)->bypassed, ==, 0);
    g_assert_cmpuint(stats(&c)->aborts, ==, fc->abort ? 1 : 0);
    ctx_cleanup(&c);
}

/*
 * Bypass: frames the engine cannot key leave at once and leave other
 * flows' units alone.
 */

/* Queue frame @f with backend header @hdr on @frames, which owns it */
static void held_add(GPtrArray *frames, const NetRscHdr *hdr, GByteArray *f)
{
    Held *h = g_new0(Held, 1);

    h->hdr = *hdr;
    h->f = f;
    g_ptr_array_add(frames, h);
}

static void test_bypass(void)
{
    g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func(held_free);
    RscFrameSpec d[2], s;
    GByteArray *f;
    unsigned i, n;
    Ctx c;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&d[i], 4, 0, i, true);
        feed_spec(&c, &hdr_data_valid, &d[i], T0 + i);
    }

    /* ARP */
    held_add(frames, &hdr_zero, rsc_frame_arp());

    /* non-IP: LLDP ethertype */
    f = rsc_frame_arp();
    f->data[12] = 0x88;
    f->data[13] = 0xcc;
    held_add(frames, &hdr_zero, f);

    /* IPv4 UDP */
    rsc_frame_spec_init(&s, 4, 1);
    s.l4 = RSC_L4_UDP;
    s.payload_len = 200;
    held_add(frames, &hdr_data_valid, rsc_frame_build(&s));

    /* IPv6 UDP */
    rsc_frame_spec_init(&s, 6, 1);
    s.l4 = RSC_L4_UDP;
    s.payload_len = 200;
    held_add(frames, &hdr_zero, rsc_frame_build(&s));

    /* ICMP */
    rsc_frame_spec_init(&s, 4, 1);
    s.l4 = RSC_L4_RAW;
    s.ip_proto = RSC_IPPROTO_ICMP;
    s.payload_len = 64;
    held_add(frames, &hdr_zero, rsc_frame_build(&s));

    /* ICMPv6 */
    rsc_frame_spec_init(&s, 6, 1);
    s.l4 = RSC_L4_RAW;
    s.ip_proto = RSC_IPPROTO_ICMPV6;
    s.payload_len = 64;
    held_add(frames, &hdr_zero, rsc_frame_build(&s));

    /* non-first IPv4 fragment of a TCP datagram */
    rsc_frame_spec_init(&s, 4, 2);
    s.l4 = RSC_L4_RAW;
    s.ip_proto = RSC_IPPROTO_TCP;
    s.frag = 1480 / 8;
    s.payload_len = 100;
    held_add(frames, &hdr_zero, rsc_frame_build(&s));

    /* non-first IPv6 fragment of a TCP datagram */
    rsc_frame_spec_init(&s, 6, 2);
    s.l4 = RSC_L4_RAW;
    s.ip_proto = RSC_IPPROTO_TCP;
    s.ext_hdr = RSC_IPV6_FRAGMENT;
    s.ext_frag = 1448;              /* offset 181 * 8, last fragment */
    s.payload_len = 100;
    held_add(frames, &hdr_zero, rsc_frame_build(&s));

    /* VLAN tagged TCP data segment */
    mss_spec(&s, 4, 3, 0, true);
    s.vlan = true;
    s.vlan_tci = 100;
    held_add(frames, &hdr_data_valid, rsc_frame_build(&s));

    n = frames->len;
    for (i = 0; i < n; i++) {
        Held *h = g_ptr_array_index(frames, i);

        g_assert_cmpint(receive(&c, h->hdr.flags ? &h->hdr : NULL, h->f,
                                T0 + 10 + i), ==, NET_RSC_TAKEN);
        g_assert_cmpuint(c.out->len, ==, i + 1);
        assert_bytes(out_pkt(&c, i)->data, h->f);
        assert_hdr(&out_pkt(&c, i)->hdr, &h->hdr);
        g_assert_cmpuint(net_rsc_pending(c.e), ==, 1);
    }

    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, n + 1);
    assert_merged(out_pkt(&c, n), &d[0], 2);

    assert_stats(&c, &(NetRscStats) {
        .received = n + 2,
        .coalesced_pkts = 2,
        .coalesced_octets = 2 * MSS,
        .coalesce_events = 1,
        .bypassed = n,
        .delivered = n + 1,
    });
    ctx_cleanup(&c);
}

/* A pure ACK of a flow without a unit leaves at once, untouched */
static void test_pure_ack_alone(void)
{
    RscFrameSpec d[2], a;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&d[i], 4, 0, i, true);
        feed_spec(&c, NULL, &d[i], T0);
    }
    /* flow 1: an ACK, a duplicate of it, a window update */
    rsc_frame_spec_init(&a, 4, 1);
    a.ts = true;
    for (i = 0; i < 3; i++) {
        a.window = RSC_FRAME_WINDOW + (i == 2);
        feed_spec(&c, &hdr_data_valid, &a, T0);
        g_assert_cmpuint(c.out->len, ==, i + 1);
        assert_single(out_pkt(&c, i), &hdr_data_valid, &a);
    }
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 1);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 4);
    assert_merged(out_pkt(&c, 3), &d[0], 2);
    g_assert_cmpuint(stats(&c)->dup_acks, ==, 0);
    g_assert_cmpuint(stats(&c)->window_updates, ==, 0);
    g_assert_cmpuint(stats(&c)->aborts, ==, 0);
    ctx_cleanup(&c);
}

/* A disabled IP version bypasses; the other still coalesces */
static void test_protocols(void)
{
    RscFrameSpec a[2], b[2];
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    net_rsc_set_protocols(c.e, true, false);
    for (i = 0; i < 2; i++) {
        mss_spec(&a[i], 4, 0, i, true);
        mss_spec(&b[i], 6, 1, i, true);
        feed_spec(&c, NULL, &a[i], T0);
        feed_spec(&c, NULL, &b[i], T0);
        g_assert_cmpuint(c.out->len, ==, i + 1);
        assert_single(out_pkt(&c, i), NULL, &b[i]);
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 3);
    assert_merged(out_pkt(&c, 2), &a[0], 2);
    g_assert_cmpuint(stats(&c)->bypassed, ==, 2);

    net_rsc_set_protocols(c.e, false, true);
    for (i = 0; i < 2; i++) {
        feed_spec(&c, NULL, &a[i], T0);
        feed_spec(&c, NULL, &b[i], T0);
        g_assert_cmpuint(c.out->len, ==, 4 + i);
        assert_single(out_pkt(&c, 3 + i), NULL, &a[i]);
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 6);
    assert_merged(out_pkt(&c, 5), &b[0], 2);
    g_assert_cmpuint(stats(&c)->bypassed, ==, 4);
    ctx_cleanup(&c);
}

/*
 * Duplicate ACKs and window updates
 */

static void pure_ack_spec(RscFrameSpec *s, const RscFrameSpec *last)
{
    *s = *last;
    s->seq = last->seq + last->payload_len;
    s->payload_len = 0;
    s->ip_id++;
}

/*
 * RSC_EXT: a duplicate ACK (pure ACK, the unit's ACK number and window)
 * never joins.  It closes its flow's unit, which is delivered first, and
 * goes out alone, byte for byte with its backend header, counted in
 * dup_acks and finalized but not as an abort.  The duplicates after it
 * meet no unit: bypassed, not counted.  The coalesced packet's dup_acks
 * is 0.
 */
static void test_dup_acks(void)
{
    RscFrameSpec d[2], a, exp;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&d[i], 4, 0, i, true);
        feed_spec(&c, NULL, &d[i], T0);
    }
    pure_ack_spec(&a, &d[1]);
    for (i = 0; i < 3; i++) {
        feed_spec(&c, &hdr_data_valid, &a, T0 + 1 + i);
        g_assert_cmpuint(c.out->len, ==, 2 + i);
        assert_single(out_pkt(&c, 1 + i), &hdr_data_valid, &a);
        g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    }
    exp = d[0];
    exp.payload_len = 2 * MSS;
    exp.tsval = d[1].tsval;
    assert_coalesced(out_pkt(&c, 0), &exp, MSS, 2, 0);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 4);
    assert_stats(&c, &(NetRscStats) {
        .received = 5,
        .coalesced_pkts = 2,
        .coalesced_octets = 2 * MSS,
        .coalesce_events = 1,
        .finalized = 1,
        .bypassed = 2,
        .dup_acks = 1,
        .delivered = 4,
    });
    ctx_cleanup(&c);
}

/* One data segment and duplicate ACKs: the segment as fed, then each ACK */
static void test_dup_acks_one_segment(void)
{
    RscFrameSpec d, a;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    mss_spec(&d, 6, 0, 0, true);
    feed_spec(&c, NULL, &d, T0);
    pure_ack_spec(&a, &d);
    for (i = 0; i < 3; i++) {
        feed_spec(&c, NULL, &a, T0);
    }
    g_assert_cmpuint(c.out->len, ==, 4);
    assert_single(out_pkt(&c, 0), NULL, &d);
    for (i = 1; i < 4; i++) {
        assert_single(out_pkt(&c, i), NULL, &a);
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 4);
    assert_stats(&c, &(NetRscStats) {
        .received = 4,
        .finalized = 1,
        .bypassed = 2,
        .dup_acks = 1,
        .delivered = 4,
    });
    ctx_cleanup(&c);
}

/*
 * Data after a duplicate ACK starts a new unit; the next duplicate ACK
 * closes that one in turn.
 */
static void test_dup_ack_then_data(void)
{
    RscFrameSpec d[4], a, exp;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&d[i], 4, 0, i, true);
        feed_spec(&c, NULL, &d[i], T0);
    }
    pure_ack_spec(&a, &d[1]);
    feed_spec(&c, NULL, &a, T0);
    g_assert_cmpuint(c.out->len, ==, 2);
    exp = d[0];
    exp.payload_len = 2 * MSS;
    exp.tsval = d[1].tsval;
    assert_coalesced(out_pkt(&c, 0), &exp, MSS, 2, 0);
    assert_single(out_pkt(&c, 1), NULL, &a);

    for (i = 2; i < 4; i++) {
        mss_spec(&d[i], 4, 0, i, true);
        feed_spec(&c, NULL, &d[i], T0);
    }
    g_assert_cmpuint(c.out->len, ==, 2);
    pure_ack_spec(&a, &d[3]);
    feed_spec(&c, NULL, &a, T0);
    g_assert_cmpuint(c.out->len, ==, 4);
    assert_merged(out_pkt(&c, 2), &d[2], 2);
    assert_single(out_pkt(&c, 3), NULL, &a);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 4);
    assert_stats(&c, &(NetRscStats) {
        .received = 6,
        .coalesced_pkts = 4,
        .coalesced_octets = 4 * MSS,
        .coalesce_events = 2,
        .finalized = 2,
        .dup_acks = 2,
        .delivered = 4,
    });
    ctx_cleanup(&c);
}

/*
 * What dup_acks does not count: pure ACKs that are not duplicates of the
 * unit (out of sequence, older timestamp, a new ACK number), and a
 * duplicate ACK with a bad checksum.  Each still closes the unit; a bad
 * checksum is an exception (abort) whatever else the ACK is.
 */
static void test_dup_ack_not_counted(void)
{
    RscFrameSpec d[10], a[5];
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 10; i++) {
        mss_spec(&d[i], 4, 0, i, true);
    }
    pure_ack_spec(&a[0], &d[1]);
    a[0].seq -= 1;
    pure_ack_spec(&a[1], &d[3]);
    a[1].tsval -= 1;
    pure_ack_spec(&a[2], &d[5]);
    a[2].l4_csum = RSC_CSUM_BAD;
    pure_ack_spec(&a[3], &d[7]);
    a[3].ack += 1000;
    pure_ack_spec(&a[4], &d[9]);
    a[4].ack += 1000;
    a[4].l4_csum = RSC_CSUM_BAD;
    for (i = 0; i < 5; i++) {
        feed_spec(&c, NULL, &d[2 * i], T0);
        feed_spec(&c, NULL, &d[2 * i + 1], T0);
        feed_spec(&c, NULL, &a[i], T0);
        g_assert_cmpuint(c.out->len, ==, 2 * i + 2);
        assert_merged(out_pkt(&c, 2 * i), &d[2 * i], 2);
        assert_single(out_pkt(&c, 2 * i + 1), NULL, &a[i]);
    }
    assert_stats(&c, &(NetRscStats) {
        .received = 15,
        .coalesced_pkts = 10,
        .coalesced_octets = 10 * MSS,
        .coalesce_events = 5,
        .finalized = 5,
        .aborts = 2,
        .delivered = 10,
    });
    ctx_cleanup(&c);
}

/*
 * A duplicate ACK whose unit's delivery the guest refuses is fed again
 * when the unit is out: it goes out alone, counted once.
 */
static void test_dup_ack_refused(void)
{
    RscFrameSpec d[2], a;
    g_autoptr(GByteArray) fa = NULL;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&d[i], 6, 0, i, false);
        feed_spec(&c, NULL, &d[i], T0);
    }
    pure_ack_spec(&a, &d[1]);
    fa = rsc_frame_build(&a);
    c.refuse = true;
    g_assert_cmpint(receive(&c, NULL, fa, T0), ==, NET_RSC_STALLED);
    c.refuse = false;
    g_assert_true(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_merged(out_pkt(&c, 0), &d[0], 2);
    g_assert_cmpint(receive(&c, NULL, fa, T0), ==, NET_RSC_TAKEN);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_single(out_pkt(&c, 1), NULL, &a);
    assert_stats(&c, &(NetRscStats) {
        .received = 3,
        .coalesced_pkts = 2,
        .coalesced_octets = 2 * MSS,
        .coalesce_events = 1,
        .finalized = 1,
        .dup_acks = 1,
        .delivered = 2,
        .refused = 1,
    });
    ctx_cleanup(&c);
}

static void test_window_update(gconstpointer opaque)
{
    bool more_data = GPOINTER_TO_INT(opaque);
    RscFrameSpec d[3], w, exp;
    unsigned n = more_data ? 3 : 2;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&d[i], 4, 0, i, true);
        feed_spec(&c, NULL, &d[i], T0);
    }
    pure_ack_spec(&w, &d[1]);
    w.window = 800;
    feed_spec(&c, NULL, &w, T0);
    g_assert_cmpuint(c.out->len, ==, 0);
    if (more_data) {
        /* data still joins after a window update */
        mss_spec(&d[2], 4, 0, 2, true);
        d[2].window = 800;
        feed_spec(&c, NULL, &d[2], T0);
        g_assert_cmpuint(c.out->len, ==, 0);
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 1);
    exp = d[0];
    exp.payload_len = n * MSS;
    exp.tsval = d[n - 1].tsval;
    exp.window = 800;
    assert_coalesced(out_pkt(&c, 0), &exp, MSS, n, 0);
    assert_stats(&c, &(NetRscStats) {
        .received = n + 1,
        .coalesced_pkts = n,
        .coalesced_octets = n * MSS,
        .coalesce_events = 1,
        .window_updates = 1,
        .delivered = 1,
    });
    ctx_cleanup(&c);
}

/*
 * Counters of a unit cannot wrap: a sender may send any number of pure
 * ACKs within one interval.
 */

/* Pure ACKs a delivered packet stands for */
static unsigned acks_in(const Pkt *p)
{
    RscFrameInfo info;

    if (p->hdr.flags & NET_RSC_F_RSC_INFO) {
        return p->hdr.dup_acks;
    }
    g_assert_true(rsc_frame_parse(p->data->data, p->data->len, &info));
    return info.payload_len == 0;
}

static void test_dup_acks_many(void)
{
    const unsigned n = 65536 + 10;
    RscFrameSpec d, a;
    g_autoptr(GByteArray) fa = NULL;
    unsigned i, acks = 0, data = 0;
    Ctx c;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    mss_spec(&d, 4, 0, 0, true);
    feed_spec(&c, NULL, &d, T0);
    pure_ack_spec(&a, &d);
    fa = rsc_frame_build(&a);
    for (i = 0; i < n; i++) {
        g_assert_cmpint(receive(&c, NULL, fa, T0), ==, NET_RSC_TAKEN);
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, >=, 1);
    for (i = 0; i < c.out->len; i++) {
        RscFrameInfo info;

        g_assert_true(rsc_frame_parse(out_pkt(&c, i)->data->data,
                                      out_pkt(&c, i)->data->len, &info));
        data += info.payload_len;
        acks += acks_in(out_pkt(&c, i));
    }
    /* the data once, every duplicate ACK accounted for */
    g_assert_cmpuint(data, ==, MSS);
    g_assert_cmpuint(acks, ==, n);
    g_assert_cmpuint(c.out->len, ==, n + 1);
    g_assert_cmpuint(stats(&c)->received, ==, n + 1);
    g_assert_cmpuint(stats(&c)->dup_acks, ==, 1);
    g_assert_cmpuint(stats(&c)->bypassed, ==, n - 1);
    ctx_cleanup(&c);
}

static void check_window_updates(unsigned n)
{
    RscFrameSpec d[2], w, exp;
    GByteArray *fw[2];
    unsigned i;
    Ctx c;

    g_test_message("%u window updates", n);
    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&d[i], 4, 0, i, true);
        feed_spec(&c, NULL, &d[i], T0);
    }
    for (i = 0; i < 2; i++) {
        pure_ack_spec(&w, &d[1]);
        w.window = 800 + i;
        fw[i] = rsc_frame_build(&w);
    }
    for (i = 0; i < n; i++) {
        g_assert_cmpint(receive(&c, NULL, fw[i & 1], T0), ==,
                        NET_RSC_TAKEN);
    }
    g_assert_cmpuint(c.out->len, ==, 0);
    net_rsc_flush(c.e);

    /* every update absorbed: the data in one packet, the latest window */
    g_assert_cmpuint(c.out->len, ==, 1);
    exp = d[0];
    exp.payload_len = 2 * MSS;
    exp.tsval = d[1].tsval;
    exp.window = 800 + ((n - 1) & 1);
    assert_coalesced(out_pkt(&c, 0), &exp, MSS, 2, 0);
    assert_stats(&c, &(NetRscStats) {
        .received = n + 2,
        .coalesced_pkts = 2,
        .coalesced_octets = 2 * MSS,
        .coalesce_events = 1,
        .window_updates = n,
        .delivered = 1,
    });
    g_byte_array_unref(fw[0]);
    g_byte_array_unref(fw[1]);
    ctx_cleanup(&c);
}

static void test_window_update_many(void)
{
    /* around the 16-bit boundaries of any per-unit frame counter */
    check_window_updates(65534);
    check_window_updates(65535);
    check_window_updates(65536);
    check_window_updates(65536 + 10);
}

/* An interval as long as the configuration allows must not overflow */
static void test_interval_huge(void)
{
    RscFrameSpec s;
    Ctx c;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INT64_MAX);
    mss_spec(&s, 4, 0, 0, true);
    feed_spec(&c, NULL, &s, T0);
    g_assert_cmpint(net_rsc_deadline(c.e), >, T0 + 1000 * INTERVAL);
    net_rsc_poll(c.e, T0 + 1000 * INTERVAL);
    g_assert_cmpuint(c.out->len, ==, 0);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_single(out_pkt(&c, 0), NULL, &s);
    ctx_cleanup(&c);
}

/* Interval 0: a unit expires at its first arrival */
static void test_interval_zero(void)
{
    RscFrameSpec s;
    Ctx c;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, 0);
    mss_spec(&s, 6, 0, 0, true);
    feed_spec(&c, NULL, &s, T0);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, T0);
    net_rsc_poll(c.e, T0 - 1);
    g_assert_cmpuint(c.out->len, ==, 0);
    net_rsc_poll(c.e, T0);
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_single(out_pkt(&c, 0), NULL, &s);
    ctx_cleanup(&c);
}

/*
 * Closing rules: timestamps, sequence, IP fields, PSH
 */

/*
 * Feed data segments 0..n-1 of flow 0 with TSvals @tsval; @split is the
 * index of the first segment that must not join the first unit, or n.
 * If @alone, that segment goes out alone (an exception, one abort) and
 * the next starts the second unit; else it starts the second unit.
 */
static void check_split(int ipv, const uint32_t *tsval, unsigned n,
                        unsigned split, bool alone,
                        void (*tweak)(RscFrameSpec *, int))
{
    RscFrameSpec s[8], exp;
    unsigned first_out = alone ? 2 : 1;
    unsigned rest = alone ? split + 1 : split;
    Ctx c;
    unsigned i;

    g_assert_cmpuint(n, <=, 8);
    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < n; i++) {
        mss_spec(&s[i], ipv, 0, i, tsval != NULL);
        if (tsval) {
            s[i].tsval = tsval[i];
        }
        if (tweak) {
            tweak(&s[i], i);
        }
        feed_spec(&c, NULL, &s[i], T0 + i);
        /* the unit leaves when the segment that does not fit arrives */
        g_assert_cmpuint(c.out->len, ==, i < split ? 0 : first_out);
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==,
                     split < n ? first_out + (rest < n) : 1);
    g_assert_cmpuint(stats(&c)->aborts, ==, split < n && alone);

    exp = s[0];
    exp.payload_len = split * MSS;
    exp.tsval = s[split - 1].tsval;
    if (split == 1) {
        assert_single(out_pkt(&c, 0), NULL, &s[0]);
    } else {
        if (tweak) {
            /* TTL: the smallest; others equal in the unit */
            for (i = 0; i < split; i++) {
                exp.ttl = MIN(exp.ttl, s[i].ttl);
            }
        }
        assert_coalesced(out_pkt(&c, 0), &exp, MSS, split, 0);
    }
    if (split < n && alone) {
        assert_single(out_pkt(&c, 1), NULL, &s[split]);
    }
    if (rest < n) {
        exp = s[rest];
        exp.payload_len = (n - rest) * MSS;
        exp.tsval = s[n - 1].tsval;
        if (n - rest == 1) {
            assert_single(out_pkt(&c, first_out), NULL, &s[rest]);
        } else {
            assert_coalesced(out_pkt(&c, first_out), &exp, MSS, n - rest, 0);
        }
    }
    ctx_cleanup(&c);
}

static void test_seq_gap(void)
{
    RscFrameSpec s[3];
    Ctx c;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    mss_spec(&s[0], 4, 0, 0, true);
    mss_spec(&s[1], 4, 0, 2, true);     /* segment 1 lost */
    mss_spec(&s[2], 4, 0, 3, true);
    feed_spec(&c, NULL, &s[0], T0);
    feed_spec(&c, NULL, &s[1], T0);
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_single(out_pkt(&c, 0), NULL, &s[0]);
    feed_spec(&c, NULL, &s[2], T0);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_merged(out_pkt(&c, 1), &s[1], 2);
    ctx_cleanup(&c);
}

static void test_seq_retransmit(void)
{
    RscFrameSpec s[2], r;
    Ctx c;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    mss_spec(&s[0], 4, 0, 0, true);
    mss_spec(&s[1], 4, 0, 1, true);
    feed_spec(&c, NULL, &s[0], T0);
    feed_spec(&c, NULL, &s[1], T0);
    r = s[1];
    r.tsval += 5;
    feed_spec(&c, NULL, &r, T0);
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_merged(out_pkt(&c, 0), &s[0], 2);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_single(out_pkt(&c, 1), NULL, &r);
    ctx_cleanup(&c);
}

static void tweak_ect0(RscFrameSpec *s, int i)
{
    s->tos = 0x02;
}

/*
 * RSC_EXT: an ECN field (ECT, CE) that differs from the unit's closes it
 * at once and, as at the size limit, the segment starts the next unit
 * (Microsoft's exceptions 7 and 8 resume coalescing with the segment that
 * triggered them), so that a run of CE marks, as DCTCP makes, coalesces
 * on its own.  ECT(0) x2, CE x2, ECT(0) x1 give three packets of 2, 2
 * and 1 segments, each with its own ECN field; each change is an abort,
 * and no segment goes out alone (finalized).
 */
static void test_ecn_runs(gconstpointer opaque)
{
    static const uint8_t tos[5] = { 0x02, 0x02, 0x03, 0x03, 0x02 };
    static const unsigned out_after[5] = { 0, 0, 1, 1, 2 };
    int ipv = GPOINTER_TO_INT(opaque);
    RscFrameSpec s[5];
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 5; i++) {
        mss_spec(&s[i], ipv, 0, i, true);
        s[i].tos = tos[i];
        feed_spec(&c, NULL, &s[i], T0 + i);
        /* the unit before a change leaves at once, not at its deadline */
        g_assert_cmpuint(c.out->len, ==, out_after[i]);
        g_assert_cmpuint(net_rsc_pending(c.e), ==, 1);
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 3);
    assert_merged(out_pkt(&c, 0), &s[0], 2);
    assert_merged(out_pkt(&c, 1), &s[2], 2);
    assert_single(out_pkt(&c, 2), NULL, &s[4]);
    for (i = 0; i < 3; i++) {
        const uint8_t *ip = out_pkt(&c, i)->data->data + RSC_ETH_HLEN;
        uint8_t ecn = ipv == 6 ? (ip[1] >> 4) & 3 : ip[1] & 3;

        g_assert_cmpuint(ecn, ==, i == 1 ? 3 : 2);
    }
    assert_stats(&c, &(NetRscStats) {
        .received = 5,
        .coalesced_pkts = 4,
        .coalesced_octets = 4 * MSS,
        .coalesce_events = 2,
        .aborts = 2,
        .delivered = 3,
    });
    ctx_cleanup(&c);
}

/*
 * The other ECN changes still go out alone after the unit: a pure ACK
 * (here one that would otherwise be a window update), a data segment
 * with a bad checksum (one abort, not two), and in GSO mode any segment
 * (Linux GRO flushes on a TOS change: see gso_cases "ce").
 */
static void test_ecn_alone(gconstpointer opaque)
{
    bool ack = GPOINTER_TO_INT(opaque);
    RscFrameSpec s[2], x;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&s[i], 4, 0, i, true);
        s[i].tos = 0x02;
        feed_spec(&c, NULL, &s[i], T0 + i);
    }
    if (ack) {
        pure_ack_spec(&x, &s[1]);
        x.window++;
    } else {
        mss_spec(&x, 4, 0, 2, true);
        x.l4_csum = RSC_CSUM_BAD;
    }
    x.tos = 0x03;
    feed_spec(&c, NULL, &x, T0 + 2);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_merged(out_pkt(&c, 0), &s[0], 2);
    assert_single(out_pkt(&c, 1), NULL, &x);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    assert_stats(&c, &(NetRscStats) {
        .received = 3,
        .coalesced_pkts = 2,
        .coalesced_octets = 2 * MSS,
        .coalesce_events = 1,
        .aborts = 1,
        .finalized = 1,
        .delivered = 2,
    });
    ctx_cleanup(&c);
}

/*
 * A CE mark closes the unit of 0-1, whose delivery is refused: the CE
 * segment is not taken.  Fed again after the resume it meets no unit and
 * starts one, which segment 3 (CE too) joins.  The abort counts once.
 */
static void test_ecn_refused(void)
{
    RscFrameSpec s[4];
    g_autoptr(GByteArray) ce = NULL;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 4; i++) {
        mss_spec(&s[i], 6, 0, i, true);
        s[i].tos = i >= 2 ? 0x03 : 0x02;
    }
    feed_spec(&c, NULL, &s[0], T0);
    feed_spec(&c, NULL, &s[1], T0);
    ce = rsc_frame_build(&s[2]);

    c.refuse = true;
    g_assert_cmpint(receive(&c, NULL, ce, T0 + 1), ==, NET_RSC_STALLED);
    g_assert_cmpuint(stats(&c)->aborts, ==, 1);
    c.refuse = false;
    g_assert_true(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_merged(out_pkt(&c, 0), &s[0], 2);
    g_assert_cmpint(receive(&c, NULL, ce, T0 + 1), ==, NET_RSC_TAKEN);
    feed_spec(&c, NULL, &s[3], T0 + 2);
    g_assert_cmpuint(c.out->len, ==, 1);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_merged(out_pkt(&c, 1), &s[2], 2);
    assert_stats(&c, &(NetRscStats) {
        .received = 4,
        .coalesced_pkts = 4,
        .coalesced_octets = 4 * MSS,
        .coalesce_events = 2,
        .aborts = 1,
        .delivered = 2,
        .refused = 1,
    });
    ctx_cleanup(&c);
}

static void tweak_ttl(RscFrameSpec *s, int i)
{
    static const uint8_t ttl[] = { 64, 62, 63, 64 };

    s->ttl = ttl[i];
}

static void tweak_tos(RscFrameSpec *s, int i)
{
    s->tos = i >= 2 ? 0x20 : 0;
}

static void tweak_flow_label(RscFrameSpec *s, int i)
{
    /* differs in the lowest bit only */
    s->flow_label = i >= 3 ? 0x12344 : 0x12345;
}

static void tweak_df(RscFrameSpec *s, int i)
{
    s->frag = i >= 2 ? 0 : RSC_IP_DF;
}

static void tweak_src_mac(RscFrameSpec *s, int i)
{
    s->src_mac_last = i >= 2 ? 1 : 0;
}

/*
 * Timestamps on the first two only, twelve NOPs in their place on the
 * others: same header length, other option layout
 */
static void tweak_ts_layout(RscFrameSpec *s, int i)
{
    if (i >= 2) {
        s->ts = false;
        memset(s->tcp_opts, 1, 12);
        s->tcp_opts_len = 12;
    }
}

/* From segment 2 on, an older acknowledgment number */
static void tweak_ack_back(RscFrameSpec *s, int i)
{
    s->ack -= i >= 2 ? 1000 : 0;
}

/* The IPv4 ID may increase, or not: the output has the first one */
static void tweak_fixed_id(RscFrameSpec *s, int i)
{
    s->ip_id = 0;
}

/*
 * Closing rules as data: segments 0..n-1 of one flow, with the TSvals
 * given or none, and a tweak of each segment; @split as in check_split()
 */
typedef struct SplitCase {
    const char *path;
    int ipv;
    bool ts;
    uint32_t tsval[4];
    unsigned n;
    unsigned split;
    void (*tweak)(RscFrameSpec *s, int i);
    bool alone;             /* see check_split() */
} SplitCase;

static const SplitCase split_cases[] = {
    /* an older TSval goes out alone, for the guest's PAWS check */
    { "timestamps/older", 4, true, { 100, 99, 100 }, 3, 1, NULL, true },
    { "timestamps/older-then-more", 6, true, { 100, 99, 101, 102 }, 4, 1,
      NULL, true },
    { "timestamps/equal", 4, true, { 100, 100, 101, 101 }, 4, 4 },
    { "timestamps/wrap", 6, true, { 0xfffffff0, 0xffffffff, 0x10, 0x11 },
      4, 4 },
    { "timestamps/older-wrap", 4, true,
      { 0x10, 0x20, 0xfffffff0, 0xfffffff1 }, 4, 2, NULL, true },
    { "ipv4/ecn/ect0", 4, false, { 0 }, 4, 4, tweak_ect0 },
    { "ipv6/ecn/ect0", 6, false, { 0 }, 4, 4, tweak_ect0 },
    { "ipv4/ttl-min", 4, false, { 0 }, 4, 4, tweak_ttl },
    { "ipv6/hop-limit-min", 6, false, { 0 }, 4, 4, tweak_ttl },
    { "ipv4/tos", 4, false, { 0 }, 4, 2, tweak_tos },
    { "ipv6/traffic-class", 6, false, { 0 }, 4, 2, tweak_tos },
    { "ipv6/flow-label", 6, false, { 0 }, 4, 3, tweak_flow_label },
    { "ipv4/df", 4, false, { 0 }, 4, 2, tweak_df },
    { "ipv4/fixed-id", 4, false, { 0 }, 4, 4, tweak_fixed_id },
    { "ipv6/source-mac", 6, false, { 0 }, 4, 2, tweak_src_mac },
    /* TSvals a zero would not be older than */
    { "ipv4/option-layout", 4, true,
      { 0x80000001, 0x80000001, 0x80000001, 0x80000001 }, 4, 2,
      tweak_ts_layout },
    { "ipv4/ack-back", 4, false, { 0 }, 4, 2, tweak_ack_back },
    { "ipv6/ack-back", 6, true, { 1, 2, 3, 4 }, 4, 2, tweak_ack_back },
};

static void test_split(gconstpointer opaque)
{
    const SplitCase *k = opaque;

    check_split(k->ipv, k->ts ? k->tsval : NULL, k->n, k->split, k->alone,
                k->tweak);
}

static void add_split_cases(void)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(split_cases); i++) {
        g_autofree char *path = g_strdup_printf("/net/rsc/%s",
                                                split_cases[i].path);

        g_test_add_data_func(path, &split_cases[i], test_split);
    }
}

/*
 * PSH does not end a unit (Microsoft's rules OR it into the unit) but makes
 * it due as soon as the clock passes the PSH segment's arrival: segments
 * of the same instant still join, the next poll delivers it.
 */
static void test_psh(void)
{
    RscFrameSpec s[6], exp;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 6; i++) {
        mss_spec(&s[i], 4, 0, i, true);
    }
    s[2].tcp_flags |= RSC_TCP_PSH;
    feed_spec(&c, NULL, &s[0], T0);
    feed_spec(&c, NULL, &s[1], T0 + 10);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, T0 + INTERVAL);
    feed_spec(&c, NULL, &s[2], T0 + 20);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, T0 + 21);
    feed_spec(&c, NULL, &s[3], T0 + 20);
    net_rsc_poll(c.e, T0 + 20);
    g_assert_cmpuint(c.out->len, ==, 0);
    net_rsc_poll(c.e, T0 + 21);
    g_assert_cmpuint(c.out->len, ==, 1);
    exp = s[0];
    exp.payload_len = 4 * MSS;
    exp.tsval = s[3].tsval;
    exp.tcp_flags |= RSC_TCP_PSH;
    assert_coalesced(out_pkt(&c, 0), &exp, MSS, 4, 0);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);

    /* the next unit has its own deadline and no PSH */
    feed_spec(&c, NULL, &s[4], T0 + 30);
    feed_spec(&c, NULL, &s[5], T0 + 40);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, T0 + 30 + INTERVAL);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_merged(out_pkt(&c, 1), &s[4], 2);
    g_assert_cmpuint(stats(&c)->aborts, ==, 0);
    ctx_cleanup(&c);
}

/*
 * A first segment with PSH starts a unit that is due at once; alone it
 * leaves untouched.  A PSH unit of a young flow is due before the older
 * units of other flows and is delivered first.
 */
static void test_psh_first(void)
{
    RscFrameSpec s[3], other, exp;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    mss_spec(&other, 4, 1, 0, true);
    feed_spec(&c, NULL, &other, T0);
    for (i = 0; i < 3; i++) {
        mss_spec(&s[i], 6, 0, i, true);
    }
    s[0].tcp_flags |= RSC_TCP_PSH;
    feed_spec(&c, &hdr_data_valid, &s[0], T0 + 50);
    g_assert_cmpuint(c.out->len, ==, 0);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, T0 + 51);
    net_rsc_poll(c.e, T0 + 51);
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_single(out_pkt(&c, 0), &hdr_data_valid, &s[0]);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, T0 + INTERVAL);

    s[2].tcp_flags |= RSC_TCP_PSH;
    feed_spec(&c, &hdr_data_valid, &s[1], T0 + 60);
    feed_spec(&c, &hdr_data_valid, &s[2], T0 + 70);
    net_rsc_poll(c.e, T0 + 71);
    g_assert_cmpuint(c.out->len, ==, 2);
    exp = s[1];
    exp.payload_len = 2 * MSS;
    exp.tsval = s[2].tsval;
    exp.tcp_flags |= RSC_TCP_PSH;
    assert_coalesced(out_pkt(&c, 1), &exp, MSS, 2, 0);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 1);
    net_rsc_poll(c.e, T0 + INTERVAL - 1);
    g_assert_cmpuint(c.out->len, ==, 2);
    net_rsc_poll(c.e, T0 + INTERVAL);
    g_assert_cmpuint(c.out->len, ==, 3);
    assert_single(out_pkt(&c, 2), NULL, &other);
    ctx_cleanup(&c);
}

/*
 * Ethernet padding and trailers never get into the coalesced payload
 */

static void test_padding(void)
{
    RscFrameSpec s[5], exp;
    uint32_t seq = RSC_FRAME_ISN(0);
    static const size_t len[5] = { 2, MSS, 2, MSS, 700 };
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 5; i++) {
        rsc_frame_spec_init(&s[i], 4, 0);
        s[i].seq = seq;
        s[i].payload_len = len[i];
        s[i].min_len = 60;              /* 14 + 20 + 20 + 2 = 56 */
        s[i].pad_byte = 0xee;
        if (i == 3) {
            /* IP total length smaller than the frame: a trailer */
            s[i].min_len = 14 + 20 + 20 + MSS + 24;
        }
        seq += len[i];
        feed_spec(&c, NULL, &s[i], T0);
    }
    g_assert_cmpuint(c.out->len, ==, 0);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 1);
    exp = s[0];
    exp.min_len = 0;
    exp.payload_len = seq - s[0].seq;
    assert_coalesced(out_pkt(&c, 0), &exp, MSS, 5, 0);
    g_assert_cmpuint(stats(&c)->coalesced_octets, ==, seq - s[0].seq);

    /* alone, a padded segment is delivered with its padding */
    s[0].seq = seq;
    feed_spec(&c, NULL, &s[0], T0);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    g_assert_cmpuint(out_pkt(&c, 1)->data->len, ==, 60);
    assert_single(out_pkt(&c, 1), NULL, &s[0]);

    /* and so is a segment with a trailer */
    s[3].seq = seq + 2;
    feed_spec(&c, NULL, &s[3], T0);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 3);
    assert_single(out_pkt(&c, 2), NULL, &s[3]);
    ctx_cleanup(&c);
}

/*
 * A lone first frame keeps its Ethernet padding until a segment joins
 * it.  The next segment has a bad checksum and joins nothing: it must
 * not have been copied over that padding.  Both leave as they came.
 */
static void test_padding_bad_next(gconstpointer opaque)
{
    int ipv = GPOINTER_TO_INT(opaque);
    RscFrameSpec s[2];
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        rsc_frame_spec_init(&s[i], ipv, 0);
        s[i].seq += 2 * i;
        s[i].payload_len = i ? MSS : 2;
    }
    /* 4 bytes of padding: 60 bytes, the Ethernet minimum, with IPv4 */
    s[0].min_len = rsc_frame_hdr_len(&s[0]) + 2 + 4;
    s[0].pad_byte = 0xee;
    s[1].l4_csum = RSC_CSUM_BAD;
    feed_spec(&c, NULL, &s[0], T0);
    feed_spec(&c, NULL, &s[1], T0);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_single(out_pkt(&c, 0), NULL, &s[0]);
    assert_single(out_pkt(&c, 1), NULL, &s[1]);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    assert_stats(&c, &(NetRscStats) {
        .received = 2,
        .aborts = 1,
        .finalized = 1,
        .delivered = 2,
    });
    ctx_cleanup(&c);
}

/*
 * The IP datagram limit: 65535 bytes
 */

static void test_size_limit(gconstpointer opaque)
{
    int ipv = GPOINTER_TO_INT(opaque);
    const unsigned n = 60;
    /* 20 + 32 + 45 * 1448 = 65212; IPv6 payload 32 + 45 * 1448 = 65192 */
    const unsigned first = 45;
    RscFrameSpec s[60];
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < n; i++) {
        mss_spec(&s[i], ipv, 0, i, true);
        feed_spec(&c, NULL, &s[i], T0);
        g_assert_cmpuint(c.out->len, ==, i < first ? 0 : 1);
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);

    assert_merged(out_pkt(&c, 0), &s[0], first);
    assert_merged(out_pkt(&c, 1), &s[first], n - first);

    assert_stats(&c, &(NetRscStats) {
        .received = n,
        .coalesced_pkts = n,
        .coalesced_octets = n * MSS,
        .coalesce_events = 2,
        .delivered = 2,
        .size_limit = 1,
    });
    ctx_cleanup(&c);
}

/* A datagram of exactly 65535 bytes is allowed; one byte more is not */
static void test_size_limit_exact(gconstpointer opaque)
{
    int ipv = GPOINTER_TO_INT(opaque);
    /* IP and TCP headers, no options */
    const size_t hdrs = (ipv == 4 ? 20 : 40) + 20;
    const size_t total = NET_RSC_MAX_IP_LEN - hdrs;
    const unsigned n = total / MSS + 1;
    RscFrameSpec s[50], last, exp;
    uint32_t seq = RSC_FRAME_ISN(0);
    Ctx c;
    unsigned i;

    g_assert_cmpuint(n, <, 50);
    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < n; i++) {
        rsc_frame_spec_init(&s[i], ipv, 0);
        s[i].seq = seq;
        s[i].payload_len = i < n - 1 ? MSS : total - (n - 1) * MSS;
        seq += s[i].payload_len;
        feed_spec(&c, NULL, &s[i], T0);
    }
    g_assert_cmpuint(c.out->len, ==, 0);
    rsc_frame_spec_init(&last, ipv, 0);
    last.seq = seq;
    last.payload_len = 1;
    feed_spec(&c, NULL, &last, T0);
    g_assert_cmpuint(c.out->len, ==, 1);
    exp = s[0];
    exp.payload_len = total;
    assert_coalesced(out_pkt(&c, 0), &exp, MSS, n, 0);
    g_assert_cmpuint(out_pkt(&c, 0)->data->len, ==, NET_RSC_BUF_MAX);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_single(out_pkt(&c, 1), NULL, &last);
    g_assert_cmpuint(stats(&c)->size_limit, ==, 1);
    g_assert_cmpuint(stats(&c)->aborts, ==, 0);
    ctx_cleanup(&c);
}

/* Segments of any size: datagrams stay <= 65535, the stream intact */
static void test_size_limit_odd(void)
{
    uint32_t seq = RSC_FRAME_ISN(0), next = seq;
    RscFrameSpec s;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 200; i++) {
        rsc_frame_spec_init(&s, 4, 0);
        s.seq = seq;
        s.ts = true;
        s.payload_len = 1 + (i * 997) % 8900;
        seq += s.payload_len;
        feed_spec(&c, NULL, &s, T0);
    }
    net_rsc_flush(c.e);
    for (i = 0; i < c.out->len; i++) {
        Pkt *p = out_pkt(&c, i);
        RscFrameInfo info;
        size_t k;

        g_assert_true(rsc_frame_parse(p->data->data, p->data->len, &info));
        g_assert_cmpuint(info.ip_len, <=, NET_RSC_MAX_IP_LEN);
        g_assert_true(info.ip_csum_ok);
        g_assert_true(info.tcp_csum_ok);
        g_assert_cmphex(info.seq, ==, next);
        for (k = 0; k < info.payload_len; k++) {
            g_assert_cmphex(p->data->data[info.payload_off + k], ==,
                            rsc_frame_pattern(next + k));
        }
        next += info.payload_len;
    }
    g_assert_cmphex(next, ==, seq);
    g_assert_cmpuint(stats(&c)->size_limit, >=, 1);
    ctx_cleanup(&c);
}

/*
 * Flow table: bounded, the oldest unit leaves, nothing is lost
 */

static void test_eviction(void)
{
    RscFrameSpec s[5][2];
    Ctx c;
    unsigned f, i;
    int k;

    ctx_init(&c, 4, INTERVAL);
    for (f = 0; f < 4; f++) {
        for (i = 0; i < 2; i++) {
            mss_spec(&s[f][i], f & 1 ? 6 : 4, f, i, true);
            feed_spec(&c, NULL, &s[f][i], T0 + f * 10 + i);
        }
    }
    g_assert_cmpuint(c.out->len, ==, 0);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 4);

    mss_spec(&s[4][0], 4, 4, 0, true);
    feed_spec(&c, NULL, &s[4][0], T0 + 100);
    g_assert_cmpuint(c.out->len, ==, 1);
    g_assert_cmpuint(stats(&c)->evictions, ==, 1);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 4);
    assert_merged(out_pkt(&c, 0), &s[0][0], 2);

    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 5);
    for (f = 1; f < 4; f++) {
        k = find_flow(&c, RSC_FRAME_SPORT(f), 1);
        g_assert_cmpint(k, >=, 1);
        assert_merged(out_pkt(&c, k), &s[f][0], 2);
    }
    k = find_flow(&c, RSC_FRAME_SPORT(4), 1);
    g_assert_cmpint(k, >=, 1);
    assert_single(out_pkt(&c, k), NULL, &s[4][0]);
    g_assert_cmpuint(stats(&c)->delivered, ==, 5);
    ctx_cleanup(&c);
}

/*
 * A new flow's segment with a bad checksum, table full: it cannot open a
 * unit, so it must not push out the oldest one either.
 */
static void test_eviction_bad_csum(void)
{
    RscFrameSpec s[4], bad;
    Ctx c;
    unsigned f;

    ctx_init(&c, 4, INTERVAL);
    for (f = 0; f < 4; f++) {
        mss_spec(&s[f], 4, f, 0, true);
        feed_spec(&c, NULL, &s[f], T0 + f);
    }
    mss_spec(&bad, 4, 4, 0, true);
    bad.l4_csum = RSC_CSUM_BAD;
    feed_spec(&c, NULL, &bad, T0 + 10);
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_single(out_pkt(&c, 0), NULL, &bad);
    g_assert_cmpuint(stats(&c)->evictions, ==, 0);
    g_assert_cmpuint(stats(&c)->aborts, ==, 1);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 4);
    ctx_cleanup(&c);
}

/* Many flows through a small table: memory stays within the bound */
static void test_churn(void)
{
    const unsigned flows = 1000;
    RscFrameSpec s;
    size_t bound, empty, warm = 0, len = 0;
    Ctx c;
    unsigned f, i;

    ctx_init(&c, 4, INTERVAL);
    empty = net_rsc_memory(c.e);
    bound = net_rsc_memory_bound(c.e);
    /* a few 64 KiB buffers per unit at most, not per flow seen */
    g_assert_cmpuint(bound, <=, 4 * 4 * NET_RSC_BUF_MAX);
    for (f = 0; f < flows; f++) {
        for (i = 0; i < 2; i++) {
            mss_spec(&s, f & 1 ? 6 : 4, f, i, true);
            feed_spec(&c, NULL, &s, T0 + f);
            g_assert_cmpuint(net_rsc_memory(c.e), <=, bound);
        }
        g_assert_cmpuint(net_rsc_pending(c.e), <=, 4);
        if (f == 8) {
            warm = net_rsc_memory(c.e);
        }
    }
    /* buffers are reused, not allocated per flow or per packet */
    g_assert_cmpuint(net_rsc_memory(c.e), ==, warm);
    g_assert_cmpuint(net_rsc_memory_bound(c.e), ==, bound);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, flows);
    g_assert_cmpuint(stats(&c)->evictions, ==, flows - 4);
    g_assert_cmpuint(stats(&c)->coalesce_events, ==, flows);
    g_assert_cmpuint(stats(&c)->coalesced_pkts, ==, 2 * flows);
    for (i = 0; i < c.out->len; i++) {
        g_assert_cmpuint(out_pkt(&c, i)->hdr.segments, ==, 2);
        g_assert_cmpuint(out_pkt(&c, i)->data->len, >, 2 * MSS);
        len = MAX(len, out_pkt(&c, i)->data->len);
    }
    /* one buffer per slot, each no larger than its packets need */
    g_assert_cmpuint(warm - empty, <=, 4 * unit_memory_max(len));
    ctx_cleanup(&c);
}

/*
 * Back-pressure: the guest refuses, nothing is lost or reordered
 */

static void test_refuse_receive(void)
{
    RscFrameSpec d[2], fin, b[2];
    g_autoptr(GByteArray) ffin = NULL;
    g_autoptr(GByteArray) fb = NULL;
    g_autoptr(GByteArray) farp = rsc_frame_arp();
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&d[i], 4, 0, i, true);
        feed_spec(&c, NULL, &d[i], T0);
        mss_spec(&b[i], 4, 1, i, true);
    }
    feed_spec(&c, NULL, &b[0], T0);
    mss_spec(&fin, 4, 0, 2, true);
    fin.tcp_flags |= RSC_TCP_FIN;       /* finalizes flow 0 */
    fin.payload_len = 10;
    ffin = rsc_frame_build(&fin);
    fb = rsc_frame_build(&b[1]);        /* would join flow 1's unit */

    c.refuse = true;
    g_assert_cmpint(receive(&c, NULL, ffin, T0 + 1), ==, NET_RSC_STALLED);
    g_assert_true(net_rsc_stalled(c.e));
    g_assert_cmpuint(c.refusals, >=, 1);
    /* while stalled nothing is taken, whatever it is */
    g_assert_cmpint(receive(&c, NULL, fb, T0 + 2), ==, NET_RSC_STALLED);
    g_assert_cmpint(receive(&c, NULL, farp, T0 + 3), ==, NET_RSC_STALLED);
    g_assert_cmpuint(c.out->len, ==, 0);
    g_assert_cmpuint(stats(&c)->received, ==, 3);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 2);
    g_assert_false(net_rsc_resume(c.e));
    g_assert_true(net_rsc_stalled(c.e));

    c.refuse = false;
    g_assert_true(net_rsc_resume(c.e));
    g_assert_false(net_rsc_stalled(c.e));
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_merged(out_pkt(&c, 0), &d[0], 2);

    /* the caller feeds the frames it still holds, in order */
    g_assert_cmpint(receive(&c, NULL, ffin, T0 + 4), ==, NET_RSC_TAKEN);
    g_assert_cmpint(receive(&c, NULL, fb, T0 + 4), ==, NET_RSC_TAKEN);
    g_assert_cmpint(receive(&c, NULL, farp, T0 + 4), ==, NET_RSC_TAKEN);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 4);
    assert_single(out_pkt(&c, 1), NULL, &fin);
    assert_bytes(out_pkt(&c, 2)->data, farp);
    assert_hdr(&out_pkt(&c, 2)->hdr, &hdr_zero);
    assert_merged(out_pkt(&c, 3), &b[0], 2);

    g_assert_cmpuint(stats(&c)->refused, ==, c.refusals);
    g_assert_cmpuint(stats(&c)->received, ==, 6);
    g_assert_cmpuint(stats(&c)->delivered, ==, 4);
    g_assert_cmpuint(stats(&c)->coalesce_events, ==, 2);
    g_assert_cmpuint(stats(&c)->coalesced_pkts, ==, 4);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    /* the FIN closed flow 0's unit, only the ARP bypassed */
    g_assert_cmpuint(stats(&c)->finalized, ==, 1);
    g_assert_cmpuint(stats(&c)->aborts, ==, 1);
    g_assert_cmpuint(stats(&c)->bypassed, ==, 1);
    ctx_cleanup(&c);
}

static void test_refuse_poll(void)
{
    RscFrameSpec d[2], b;
    g_autoptr(GByteArray) fb = NULL;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&d[i], 6, 0, i, true);
        feed_spec(&c, NULL, &d[i], T0);
    }
    mss_spec(&b, 6, 1, 0, true);
    fb = rsc_frame_build(&b);

    c.refuse = true;
    net_rsc_poll(c.e, T0 + INTERVAL);
    g_assert_true(net_rsc_stalled(c.e));
    g_assert_cmpuint(c.refusals, ==, 1);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 1);
    g_assert_cmpint(receive(&c, NULL, fb, T0 + INTERVAL), ==,
                    NET_RSC_STALLED);
    g_assert_false(net_rsc_resume(c.e));

    c.refuse = false;
    g_assert_true(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_merged(out_pkt(&c, 0), &d[0], 2);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);

    g_assert_cmpint(receive(&c, NULL, fb, T0 + INTERVAL), ==, NET_RSC_TAKEN);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_single(out_pkt(&c, 1), NULL, &b);
    g_assert_cmpuint(stats(&c)->timer_drains, ==, 1);
    g_assert_cmpuint(stats(&c)->refused, ==, c.refusals);
    g_assert_cmpuint(stats(&c)->received, ==, 3);
    ctx_cleanup(&c);
}

static void test_refuse_eviction(void)
{
    RscFrameSpec d[2], b;
    g_autoptr(GByteArray) fb = NULL;
    Ctx c;
    unsigned i;

    ctx_init(&c, 1, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&d[i], 4, 0, i, true);
        feed_spec(&c, NULL, &d[i], T0);
    }
    mss_spec(&b, 4, 1, 0, true);
    fb = rsc_frame_build(&b);

    c.refuse = true;
    g_assert_cmpint(receive(&c, NULL, fb, T0 + 1), ==, NET_RSC_STALLED);
    g_assert_true(net_rsc_stalled(c.e));
    g_assert_cmpuint(c.out->len, ==, 0);

    c.refuse = false;
    g_assert_true(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_merged(out_pkt(&c, 0), &d[0], 2);

    g_assert_cmpint(receive(&c, NULL, fb, T0 + 2), ==, NET_RSC_TAKEN);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_single(out_pkt(&c, 1), NULL, &b);
    g_assert_cmpuint(stats(&c)->evictions, ==, 1);
    g_assert_cmpuint(stats(&c)->refused, ==, c.refusals);
    g_assert_cmpuint(stats(&c)->received, ==, 3);
    ctx_cleanup(&c);
}

static void test_refuse_flush(void)
{
    RscFrameSpec d[2][2], exp;
    Ctx c;
    unsigned f, i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (f = 0; f < 2; f++) {
        for (i = 0; i < 2; i++) {
            mss_spec(&d[f][i], 4, f, i, false);
            feed_spec(&c, NULL, &d[f][i], T0);
        }
    }
    c.refuse = true;
    net_rsc_flush(c.e);
    g_assert_true(net_rsc_stalled(c.e));
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 2);
    g_assert_cmpuint(c.out->len, ==, 0);

    c.refuse = false;
    g_assert_true(net_rsc_resume(c.e));
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    for (f = 0; f < 2; f++) {
        int k = find_flow(&c, RSC_FRAME_SPORT(f), 0);

        g_assert_cmpint(k, >=, 0);
        exp = d[f][0];
        exp.payload_len = 2 * MSS;
        assert_coalesced(out_pkt(&c, k), &exp, MSS, 2, 0);
    }
    g_assert_cmpuint(stats(&c)->refused, ==, c.refusals);
    ctx_cleanup(&c);
}

/*
 * A segment that closes its flow's unit and is then refused is fed again
 * after the resume, when the unit is gone: it must still go out alone,
 * counted once, as without the refusal.  ECE on segment 2 closes the
 * unit of 0-1 (Microsoft's ECN exception, an abort).
 */
static void test_refuse_finalizer(void)
{
    RscFrameSpec s[3];
    g_autoptr(GByteArray) ce = NULL;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 3; i++) {
        mss_spec(&s[i], 4, 0, i, true);
        s[i].tos = 0x02;
    }
    s[2].tcp_flags |= RSC_TCP_ECE;
    feed_spec(&c, NULL, &s[0], T0);
    feed_spec(&c, NULL, &s[1], T0);
    ce = rsc_frame_build(&s[2]);

    c.refuse = true;
    g_assert_cmpint(receive(&c, NULL, ce, T0 + 1), ==, NET_RSC_STALLED);
    c.refuse = false;
    g_assert_true(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, 1);
    g_assert_cmpint(receive(&c, NULL, ce, T0 + 1), ==, NET_RSC_TAKEN);

    g_assert_cmpuint(c.out->len, ==, 2);
    assert_single(out_pkt(&c, 1), NULL, &s[2]);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    g_assert_cmpuint(stats(&c)->aborts, ==, 1);
    g_assert_cmpuint(stats(&c)->finalized, ==, 1);
    g_assert_cmpuint(stats(&c)->received, ==, 3);
    ctx_cleanup(&c);
}

/*
 * A finalizer refused and then dropped by the caller: the decision made
 * for it must not pass to the next, different frame of the flow.  Unit
 * [S]; S + MSS with a bad checksum closes it and is refused (the unit's
 * delivery, or its own), then never fed again.  A good S + MSS and
 * S + 2 MSS must then merge into one packet, and count no abort.
 */
static void test_refuse_dropped(gconstpointer opaque)
{
    bool own = GPOINTER_TO_INT(opaque);
    RscFrameSpec s[3], bad;
    g_autoptr(GByteArray) fb = NULL;
    Ctx c;
    unsigned i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 3; i++) {
        mss_spec(&s[i], 4, 0, i, true);
    }
    feed_spec(&c, NULL, &s[0], T0);
    bad = s[1];
    bad.l4_csum = RSC_CSUM_BAD;
    fb = rsc_frame_build(&bad);
    if (own) {
        /* the unit goes out, the frame itself is refused */
        c.refuse_every = 2;
    } else {
        c.refuse = true;
    }
    g_assert_cmpint(receive(&c, NULL, fb, T0), ==, NET_RSC_STALLED);
    c.refuse = false;
    c.refuse_every = 0;
    g_assert_true(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_single(out_pkt(&c, 0), NULL, &s[0]);

    feed_spec(&c, NULL, &s[1], T0 + 1);
    feed_spec(&c, NULL, &s[2], T0 + 1);
    g_assert_cmpuint(c.out->len, ==, 1);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_merged(out_pkt(&c, 1), &s[1], 2);
    assert_stats(&c, &(NetRscStats) {
        .received = 3,
        .coalesced_pkts = 2,
        .coalesced_octets = 2 * MSS,
        .coalesce_events = 1,
        .delivered = 2,
        .refused = 1,
    });
    ctx_cleanup(&c);
}

/*
 * A reset purges a refused finalizer; a later frame of the same flow that
 * closes nothing is bypassed, not finalized.  Coalesced packets purged
 * before delivery are not counted as coalesced.
 */
static void test_refuse_purge(void)
{
    RscFrameSpec s, syn;
    g_autoptr(GByteArray) fin = NULL;
    Ctx c;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    mss_spec(&s, 4, 0, 0, true);
    feed_spec(&c, NULL, &s, T0);
    mss_spec(&s, 4, 0, 1, true);
    feed_spec(&c, NULL, &s, T0);
    mss_spec(&s, 4, 0, 2, true);
    s.tcp_flags |= RSC_TCP_FIN;
    fin = rsc_frame_build(&s);
    c.refuse = true;
    g_assert_cmpint(receive(&c, NULL, fin, T0), ==, NET_RSC_STALLED);
    net_rsc_purge(c.e);
    c.refuse = false;

    rsc_frame_spec_init(&syn, 4, 0);
    syn.tcp_flags = RSC_TCP_SYN;
    feed_spec(&c, NULL, &syn, T0 + 1);
    g_assert_cmpuint(c.out->len, ==, 1);
    g_assert_cmpuint(stats(&c)->bypassed, ==, 1);
    g_assert_cmpuint(stats(&c)->finalized, ==, 0);
    g_assert_cmpuint(stats(&c)->coalesce_events, ==, 0);
    g_assert_cmpuint(stats(&c)->coalesced_pkts, ==, 0);
    g_assert_cmpuint(stats(&c)->coalesced_octets, ==, 0);
    ctx_cleanup(&c);
}

/*
 * Migration: the source seals its units and lists what it holds, the
 * destination takes the same packets with net_rsc_hold() and delivers
 * them, byte for byte and in order, once the guest has room.
 */
static void copy_held(void *opaque, const NetRscHdr *hdr, const uint8_t *pkt,
                      size_t len)
{
    GPtrArray *held = opaque;
    Pkt *p = g_new0(Pkt, 1);

    p->hdr = *hdr;
    p->data = g_byte_array_sized_new(len);
    g_byte_array_append(p->data, pkt, len);
    g_ptr_array_add(held, p);
}

/*
 * @pkts[@first..] are the packets test_migrate_held() expects held: the
 * units of flows 1 and 2, three segments each, then @single as fed
 */
static void assert_held(GPtrArray *pkts, guint first, RscFrameSpec d[][3],
                        const RscFrameSpec *single)
{
    g_assert_cmpuint(pkts->len, ==, first + 3);
    assert_merged(g_ptr_array_index(pkts, first), d[1], 3);
    assert_merged(g_ptr_array_index(pkts, first + 1), d[2], 3);
    assert_single(g_ptr_array_index(pkts, first + 2), &hdr_data_valid,
                  single);
}

static void test_migrate_held(void)
{
    RscFrameSpec d[3][3], single;
    g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func(pkt_free);
    g_autofree uint8_t *big = g_malloc0(NET_RSC_BUF_MAX + 1);
    Ctx src, dst;
    unsigned f, i;

    ctx_init(&src, 4, INTERVAL);
    for (f = 0; f < 3; f++) {
        for (i = 0; i < 3; i++) {
            mss_spec(&d[f][i], f == 1 ? 6 : 4, f, i, true);
            feed_spec(&src, NULL, &d[f][i], T0);
        }
    }
    mss_spec(&single, 4, 3, 0, false);
    feed_spec(&src, &hdr_data_valid, &single, T0);
    /* sealing closes the units without delivering any */
    net_rsc_seal(src.e);
    g_assert_cmpuint(src.out->len, ==, 0);
    g_assert_cmpuint(net_rsc_pending(src.e), ==, 4);
    g_assert_cmpint(net_rsc_deadline(src.e), ==, INT64_MAX);
    /* the guest had room for one packet when the VM stopped */
    src.refuse_every = 2;
    net_rsc_flush(src.e);
    g_assert_true(net_rsc_stalled(src.e));
    g_assert_cmpuint(src.out->len, ==, 1);
    assert_merged(out_pkt(&src, 0), d[0], 3);
    net_rsc_foreach_held(src.e, copy_held, held);
    assert_held(held, 0, d, &single);

    /* what the source would deliver, for comparison */
    src.refuse_every = 0;
    g_assert_true(net_rsc_resume(src.e));
    assert_held(src.out, 1, d, &single);

    ctx_init(&dst, 3, INTERVAL);
    for (i = 0; i < held->len; i++) {
        Pkt *p = g_ptr_array_index(held, i);

        g_assert_true(net_rsc_hold(dst.e, &p->hdr, p->data->data,
                                   p->data->len));
        g_assert_cmpuint(net_rsc_memory(dst.e), <=,
                         net_rsc_memory_bound(dst.e));
    }
    /* all 3 slots taken; empty and oversized packets are refused */
    g_assert_false(net_rsc_hold(dst.e, &hdr_zero, big, 100));
    g_assert_true(net_rsc_stalled(dst.e));
    g_assert_cmpuint(net_rsc_pending(dst.e), ==, 3);
    {
        g_autoptr(GByteArray) frame = rsc_frame_build(&single);

        g_assert_cmpint(receive(&dst, NULL, frame, T0), ==, NET_RSC_STALLED);
    }

    dst.refuse = true;
    g_assert_false(net_rsc_resume(dst.e));
    dst.refuse = false;
    g_assert_true(net_rsc_resume(dst.e));
    g_assert_false(net_rsc_stalled(dst.e));
    assert_held(dst.out, 0, d, &single);

    g_assert_false(net_rsc_hold(dst.e, &hdr_zero, big, 0));
    g_assert_false(net_rsc_hold(dst.e, &hdr_zero, big, NET_RSC_BUF_MAX + 1));
    g_assert_true(net_rsc_hold(dst.e, &hdr_zero, big, NET_RSC_BUF_MAX));
    net_rsc_purge(dst.e);
    g_assert_cmpuint(net_rsc_pending(dst.e), ==, 0);

    /*
     * Held packets were made elsewhere: not counted as coalesced here,
     * even in a slot whose previous unit was
     */
    g_assert_cmpuint(stats(&dst)->coalesce_events, ==, 0);
    for (i = 0; i < 2; i++) {
        feed_spec(&dst, NULL, &d[0][i], T0);
    }
    net_rsc_flush(dst.e);
    g_assert_cmpuint(stats(&dst)->coalesce_events, ==, 1);
    for (i = 0; i < held->len; i++) {
        Pkt *p = g_ptr_array_index(held, i);

        g_assert_true(net_rsc_hold(dst.e, &p->hdr, p->data->data,
                                   p->data->len));
    }
    g_assert_true(net_rsc_resume(dst.e));
    g_assert_cmpuint(stats(&dst)->coalesce_events, ==, 1);
    g_assert_cmpuint(stats(&dst)->coalesced_pkts, ==, 2);
    ctx_cleanup(&src);
    ctx_cleanup(&dst);
}

/*
 * Packets held into an engine that has units open, as virtio-net does
 * when the guest stops using a queue pair: they go out first, the open
 * units stay open with their deadlines, and once the engine takes frames
 * again a flow's segment still joins its unit.  With every slot taken by
 * an open unit nothing can be held.
 */
static void test_migrate_hold_open(void)
{
    RscFrameSpec a[3], b[2], moved, exp;
    g_autoptr(GByteArray) fa2 = NULL, fmoved = NULL;
    Ctx c;
    unsigned i;

    ctx_init(&c, 3, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&a[i], 4, 0, i, true);
        feed_spec(&c, NULL, &a[i], T0);
        mss_spec(&b[i], 6, 1, i, true);
        feed_spec(&c, NULL, &b[i], T0 + 10);
    }
    mss_spec(&a[2], 4, 0, 2, true);
    fa2 = rsc_frame_build(&a[2]);
    mss_spec(&moved, 4, 2, 0, false);
    fmoved = rsc_frame_build(&moved);

    g_assert_true(net_rsc_hold(c.e, &hdr_data_valid, fmoved->data,
                               fmoved->len));
    g_assert_true(net_rsc_stalled(c.e));
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 3);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, T0 + INTERVAL);
    g_assert_cmpint(receive(&c, NULL, fa2, T0 + 20), ==, NET_RSC_STALLED);

    g_assert_true(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_single(out_pkt(&c, 0), &hdr_data_valid, &moved);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 2);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, T0 + INTERVAL);

    g_assert_cmpint(receive(&c, NULL, fa2, T0 + 20), ==, NET_RSC_TAKEN);
    net_rsc_poll(c.e, T0 + INTERVAL + 10);
    g_assert_cmpuint(c.out->len, ==, 3);
    exp = a[0];
    exp.payload_len = 3 * MSS;
    exp.tsval = a[2].tsval;
    assert_coalesced(out_pkt(&c, 1), &exp, MSS, 3, 0);
    exp = b[0];
    exp.payload_len = 2 * MSS;
    exp.tsval = b[1].tsval;
    assert_coalesced(out_pkt(&c, 2), &exp, MSS, 2, 0);
    /* made elsewhere: not counted as coalesced here */
    g_assert_cmpuint(stats(&c)->coalesce_events, ==, 2);
    ctx_cleanup(&c);

    /* no slot left: nothing held, nothing changed */
    ctx_init(&c, 2, INTERVAL);
    feed_spec(&c, NULL, &a[0], T0);
    feed_spec(&c, NULL, &b[0], T0);
    g_assert_false(net_rsc_hold(c.e, &hdr_data_valid, fmoved->data,
                                fmoved->len));
    g_assert_false(net_rsc_stalled(c.e));
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 2);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_single(out_pkt(&c, 0), NULL, &a[0]);
    assert_single(out_pkt(&c, 1), NULL, &b[0]);
    ctx_cleanup(&c);
}

/*
 * A caller that follows the contract (holds frames while stalled, feeds
 * them again after resume) against a guest that refuses every third
 * delivery: every flow's byte stream arrives complete and in order.
 */

static void unstall(Ctx *c)
{
    unsigned tries = 0;

    while (net_rsc_stalled(c->e) && !net_rsc_resume(c->e)) {
        g_assert_cmpuint(++tries, <, 100);
    }
    g_assert_false(net_rsc_stalled(c->e));
}

static void drain_backlog(Ctx *c, GQueue *backlog, int64_t now,
                          unsigned *taken)
{
    while (!g_queue_is_empty(backlog)) {
        Held *h = g_queue_peek_head(backlog);

        unstall(c);
        if (net_rsc_receive(c->e, h->hdr.flags ? &h->hdr : NULL,
                            h->f->data, h->f->len, now) == NET_RSC_TAKEN) {
            held_free(g_queue_pop_head(backlog));
            (*taken)++;
        }
        g_assert_cmpuint(net_rsc_memory(c->e), <=,
                         net_rsc_memory_bound(c->e));
    }
}

static void test_refuse_stream(void)
{
    enum { FLOWS = 3, ROUNDS = 150 };
    static const int ipv[FLOWS] = { 4, 4, 6 };
    uint32_t next[FLOWS], got[FLOWS];
    bool fin[FLOWS] = { false };
    GQueue backlog = G_QUEUE_INIT;
    unsigned taken = 0, fed = 0, arps = 0, arps_out = 0;
    uint32_t rnd = 12345;
    int64_t now = T0;
    Ctx c;
    unsigned i, f;

    ctx_init(&c, 2, INTERVAL);
    c.refuse_every = 3;
    for (f = 0; f < FLOWS; f++) {
        next[f] = got[f] = RSC_FRAME_ISN(f);
    }

    for (i = 0; i <= ROUNDS; i++) {
        RscFrameSpec s;
        Held *h = g_new0(Held, 1);

        rnd = rnd * 1103515245 + 12345;
        f = (rnd >> 16) % FLOWS;
        if (i == ROUNDS) {
            /* end every flow with a FIN */
            for (f = 0; f < FLOWS; f++) {
                Held *hf = g_new0(Held, 1);

                rsc_frame_spec_init(&s, ipv[f], f);
                s.seq = next[f];
                s.ts = f != 1;
                s.tcp_flags |= RSC_TCP_FIN;
                s.payload_len = 10;
                next[f] += 10;
                hf->f = rsc_frame_build(&s);
                g_queue_push_tail(&backlog, hf);
                fed++;
            }
            g_free(h);
            break;
        }
        rsc_frame_spec_init(&s, ipv[f], f);
        s.seq = next[f];
        s.ts = f != 1;
        s.tsval += i;
        s.payload_len = (rnd >> 8) % 5 ? MSS : 1 + (rnd >> 4) % 1000;
        if ((rnd >> 12) % 7 == 0) {
            s.tcp_flags |= RSC_TCP_PSH;
        }
        if (i & 1) {
            h->hdr = hdr_data_valid;
        }
        next[f] += s.payload_len;
        h->f = rsc_frame_build(&s);
        g_queue_push_tail(&backlog, h);
        fed++;
        if (i % 10 == 9) {
            h = g_new0(Held, 1);
            h->f = rsc_frame_arp();
            g_queue_push_tail(&backlog, h);
            fed++;
            arps++;
        }

        /* a timer that fires now and then */
        now += 40000;
        unstall(&c);
        net_rsc_poll(c.e, now);
        drain_backlog(&c, &backlog, now, &taken);
    }
    drain_backlog(&c, &backlog, now, &taken);
    for (i = 0; net_rsc_pending(c.e) || net_rsc_stalled(c.e); i++) {
        g_assert_cmpuint(i, <, 100);
        unstall(&c);
        net_rsc_flush(c.e);
    }
    unstall(&c);

    g_assert_cmpuint(taken, ==, fed);
    for (i = 0; i < c.out->len; i++) {
        Pkt *p = out_pkt(&c, i);
        RscFrameInfo info;
        size_t k;

        if (!rsc_frame_parse(p->data->data, p->data->len, &info)) {
            arps_out++;
            continue;
        }
        f = info.sport - RSC_FRAME_SPORT(0);
        g_assert_cmpuint(f, <, FLOWS);
        g_assert_false(fin[f]);
        g_assert_cmphex(info.seq, ==, got[f]);
        g_assert_true(info.ip_csum_ok);
        g_assert_true(info.tcp_csum_ok);
        for (k = 0; k < info.payload_len; k++) {
            g_assert_cmphex(p->data->data[info.payload_off + k], ==,
                            rsc_frame_pattern(got[f] + k));
        }
        got[f] += info.payload_len;
        fin[f] = info.flags & RSC_TCP_FIN;
    }
    for (f = 0; f < FLOWS; f++) {
        g_assert_cmphex(got[f], ==, next[f]);
        g_assert_true(fin[f]);
    }
    g_assert_cmpuint(arps_out, ==, arps);
    g_assert_cmpuint(c.refusals, >, 10);
    g_assert_cmpuint(stats(&c)->refused, ==, c.refusals);
    g_assert_cmpuint(stats(&c)->received, ==, fed);
    g_assert_cmpuint(stats(&c)->delivered, ==, c.out->len);
    g_assert_cmpuint(stats(&c)->coalesce_events, >, 0);
    g_assert_cmpuint(stats(&c)->evictions, >, 0);
    ctx_cleanup(&c);
}

/*
 * Purge and flush
 */

static void test_purge(void)
{
    RscFrameSpec s;
    g_autoptr(GByteArray) ffin = NULL;
    Ctx c;
    unsigned f, i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (f = 0; f < 3; f++) {
        for (i = 0; i < 2; i++) {
            mss_spec(&s, 4, f, i, true);
            feed_spec(&c, NULL, &s, T0);
        }
    }
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 3);
    net_rsc_purge(c.e);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, INT64_MAX);
    net_rsc_flush(c.e);
    net_rsc_poll(c.e, T0 + 10 * INTERVAL);
    g_assert_cmpuint(c.out->len, ==, 0);

    /* held packets of a stalled engine are dropped too */
    mss_spec(&s, 4, 0, 0, true);
    feed_spec(&c, NULL, &s, T0);
    mss_spec(&s, 4, 0, 1, true);
    s.tcp_flags |= RSC_TCP_FIN;
    ffin = rsc_frame_build(&s);
    c.refuse = true;
    g_assert_cmpint(receive(&c, NULL, ffin, T0), ==, NET_RSC_STALLED);
    g_assert_true(net_rsc_stalled(c.e));
    net_rsc_purge(c.e);
    g_assert_false(net_rsc_stalled(c.e));
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    c.refuse = false;
    g_assert_true(net_rsc_resume(c.e));
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 0);

    /* and the engine works afterwards */
    mss_spec(&s, 4, 0, 0, true);
    feed_spec(&c, NULL, &s, T0);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_single(out_pkt(&c, 0), NULL, &s);
    ctx_cleanup(&c);
}

/* Open a unit of two segments in each of flows @from..@to - 1 */
static void open_units(Ctx *c, unsigned from, unsigned to)
{
    RscFrameSpec s;
    unsigned f, i;

    for (f = from; f < to; f++) {
        for (i = 0; i < 2; i++) {
            mss_spec(&s, f % 2 ? 6 : 4, f, i, true);
            feed_spec(c, NULL, &s, T0);
        }
    }
}

/*
 * net_rsc_purge() gives the buffers back.  After units of many flows the
 * engine holds megabytes, in the open units and in the free slots of the
 * units delivered before; after a purge it holds what a new engine does.
 * It works on: a unit coalesces again, and packets sealed, listed, purged
 * and held again, as virtio-net moves them on a queue pair change, go out
 * as they were.
 */
static void test_purge_memory(void)
{
    enum { FLOWS = 64, SEGS = 40, OPEN = 8 };
    g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func(pkt_free);
    RscFrameSpec s[2];
    size_t empty, big;
    Ctx c;
    unsigned f, i, base;

    ctx_init(&c, FLOWS, INTERVAL);
    empty = net_rsc_memory(c.e);
    for (f = 0; f < FLOWS; f++) {
        for (i = 0; i < SEGS; i++) {
            mss_spec(&s[0], 4, f, i, true);
            feed_spec(&c, NULL, &s[0], T0);
        }
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, FLOWS);
    open_units(&c, 0, OPEN);
    big = net_rsc_memory(c.e);
    g_assert_cmpuint(big, >=, empty + FLOWS * (SEGS * MSS));
    g_assert_cmpuint(big, <=, net_rsc_memory_bound(c.e));

    net_rsc_purge(c.e);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    g_assert_cmpuint(net_rsc_memory(c.e), ==, empty);

    /* a unit after the purge */
    base = c.out->len;
    for (i = 0; i < 2; i++) {
        mss_spec(&s[i], 6, 1, i, true);
        feed_spec(&c, NULL, &s[i], T0 + 1);
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, base + 1);
    assert_merged(out_pkt(&c, base), &s[0], 2);
    g_assert_cmpuint(net_rsc_memory(c.e), >, empty);
    g_assert_cmpuint(net_rsc_memory(c.e) - empty, <=,
                     unit_memory_max(out_pkt(&c, base)->data->len));

    /* seal, list, purge, hold again */
    open_units(&c, 0, OPEN);
    net_rsc_seal(c.e);
    net_rsc_foreach_held(c.e, copy_held, held);
    g_assert_cmpuint(held->len, ==, OPEN);
    net_rsc_purge(c.e);
    g_assert_cmpuint(net_rsc_memory(c.e), ==, empty);
    for (i = 0; i < held->len; i++) {
        Pkt *p = g_ptr_array_index(held, i);

        g_assert_true(net_rsc_hold(c.e, &p->hdr, p->data->data,
                                   p->data->len));
    }
    g_assert_true(net_rsc_stalled(c.e));
    g_assert_cmpuint(net_rsc_pending(c.e), ==, OPEN);
    g_assert_cmpuint(net_rsc_memory(c.e), >, empty);
    base = c.out->len;
    g_assert_true(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, base + OPEN);
    for (i = 0; i < OPEN; i++) {
        Pkt *p = g_ptr_array_index(held, i);
        Pkt *q = out_pkt(&c, base + i);

        assert_bytes(q->data, p->data);
        assert_hdr(&q->hdr, &p->hdr);
        g_assert_cmpuint(q->hdr.segments, ==, 2);
    }
    ctx_cleanup(&c);
}

static void test_flush(void)
{
    RscFrameSpec s[5][2];
    Ctx c;
    unsigned f, i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (f = 0; f < 5; f++) {
        for (i = 0; i < 1 + f % 2; i++) {
            mss_spec(&s[f][i], f % 3 ? 4 : 6, f, i, true);
            feed_spec(&c, NULL, &s[f][i], T0 + f);
        }
    }
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 5);
    net_rsc_flush(c.e);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, INT64_MAX);
    g_assert_cmpuint(c.out->len, ==, 5);
    for (f = 0; f < 5; f++) {
        int k = find_flow(&c, RSC_FRAME_SPORT(f), 0);

        g_assert_cmpint(k, >=, 0);
        if (f % 2) {
            assert_merged(out_pkt(&c, k), s[f], 2);
        } else {
            assert_single(out_pkt(&c, k), NULL, &s[f][0]);
        }
    }
    g_assert_cmpuint(stats(&c)->delivered, ==, 5);
    g_assert_cmpuint(stats(&c)->coalesce_events, ==, 2);
    ctx_cleanup(&c);
}

#ifndef _WIN32
/*
 * Re-entry from the delivery callback.  A guest can aim a receive buffer at
 * the device's registers, so that writing a packet resets the device or
 * kicks a queue; that must never reach the engine while it walks its
 * queue.  Each call that changes the engine's state aborts instead of
 * corrupting it; the test forks, since the child dies.
 */

typedef enum ReentryCall {
    REENTRY_RECEIVE,
    REENTRY_POLL,
    REENTRY_FLUSH,
    REENTRY_RESUME,
    REENTRY_PURGE,
    REENTRY_HOLD,
    REENTRY_SET_MODE,
    REENTRY_SET_PROTOCOLS,
} ReentryCall;

typedef struct Reentry {
    Ctx c;
    ReentryCall call;
    GByteArray *frame;
} Reentry;

static bool deliver_reentering(void *opaque, const NetRscHdr *hdr,
                               const uint8_t *frame, size_t len)
{
    Reentry *r = opaque;
    NetRscEngine *e = r->c.e;

    switch (r->call) {
    case REENTRY_RECEIVE:
        net_rsc_receive(e, NULL, r->frame->data, r->frame->len, T0 + 1);
        break;
    case REENTRY_POLL:
        net_rsc_poll(e, T0 + 10 * INTERVAL);
        break;
    case REENTRY_FLUSH:
        net_rsc_flush(e);
        break;
    case REENTRY_RESUME:
        net_rsc_resume(e);
        break;
    case REENTRY_PURGE:
        net_rsc_purge(e);
        break;
    case REENTRY_HOLD:
        net_rsc_hold(e, &hdr_zero, r->frame->data, r->frame->len);
        break;
    case REENTRY_SET_MODE:
        net_rsc_set_mode(e, NET_RSC_MODE_GSO);
        break;
    case REENTRY_SET_PROTOCOLS:
        net_rsc_set_protocols(e, false, false);
        break;
    }
    return deliver_cb(&r->c, hdr, frame, len);
}

/* Feed two flows' units, then flush: the first delivery re-enters */
static void reentry_child(ReentryCall call)
{
    NetRscConfig cfg = {
        .max_flows = NET_RSC_DEFAULT_FLOWS,
        .interval_ns = INTERVAL,
        .hash_seed = 1,
        .deliver = deliver_reentering,
    };
    RscFrameSpec spec;
    Reentry r = { .call = call };
    unsigned f, i;

    cfg.opaque = &r;
    r.c.out = g_ptr_array_new_with_free_func(pkt_free);
    r.c.e = net_rsc_new(&cfg);
    for (f = 0; f < 2; f++) {
        for (i = 0; i < 2; i++) {
            mss_spec(&spec, 4, f, i, true);
            feed_spec(&r.c, NULL, &spec, T0);
        }
    }
    mss_spec(&spec, 4, 0, 2, true);
    r.frame = rsc_frame_build(&spec);
    net_rsc_flush(r.c.e);
}

static void test_reentry(gconstpointer data)
{
    ReentryCall call = GPOINTER_TO_INT(data);
    char err[512];
    ssize_t n, got = 0;
    int status, fds[2];
    pid_t pid;

    g_assert_cmpint(pipe(fds), ==, 0);
    fflush(NULL);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        /* not a word on the test's own output (TAP), even from a crash */
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        reentry_child(call);
        _exit(0);
    }
    close(fds[1]);
    while ((n = read(fds[0], err + got, sizeof(err) - 1 - got)) > 0) {
        got += n;
    }
    close(fds[0]);
    err[got] = 0;
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_test_message("call %d: %s status %d, stderr: %s", call,
                   WIFSIGNALED(status) ? "signal" : "exit",
                   WIFSIGNALED(status) ? WTERMSIG(status)
                                       : WEXITSTATUS(status), err);
    /* the engine's own check, not a crash of its corrupted state */
    g_assert_true(WIFSIGNALED(status));
    g_assert_cmpint(WTERMSIG(status), ==, SIGABRT);
    g_assert_nonnull(strstr(err, "!e->delivering"));
}
#endif

/*
 * Configuration
 */

static bool deliver_nothing(void *opaque, const NetRscHdr *hdr,
                            const uint8_t *frame, size_t len)
{
    return true;
}

static void test_config(void)
{
    NetRscConfig ok = {
        .max_flows = NET_RSC_DEFAULT_FLOWS,
        .interval_ns = INTERVAL,
        .deliver = deliver_nothing,
    };
    NetRscConfig cfg;
    NetRscEngine *e;

    e = net_rsc_new(&ok);
    g_assert_nonnull(e);
    g_assert_cmpuint(net_rsc_memory(e), <=, net_rsc_memory_bound(e));
    net_rsc_free(e);

    cfg = ok;
    cfg.max_flows = 0;
    g_assert_null(net_rsc_new(&cfg));
    cfg.max_flows = NET_RSC_MAX_FLOWS + 1;
    g_assert_null(net_rsc_new(&cfg));
    cfg.max_flows = UINT32_MAX;
    g_assert_null(net_rsc_new(&cfg));

    cfg = ok;
    cfg.interval_ns = -1;
    g_assert_null(net_rsc_new(&cfg));
    cfg.interval_ns = INT64_MIN;
    g_assert_null(net_rsc_new(&cfg));

    cfg = ok;
    cfg.deliver = NULL;
    g_assert_null(net_rsc_new(&cfg));

    cfg = ok;
    cfg.mode = NET_RSC_MODE_GSO + 1;
    g_assert_null(net_rsc_new(&cfg));

    /* the limits themselves are valid */
    cfg = ok;
    cfg.max_flows = 1;
    cfg.interval_ns = 0;
    e = net_rsc_new(&cfg);
    g_assert_nonnull(e);
    net_rsc_free(e);
    cfg.max_flows = NET_RSC_MAX_FLOWS;
    e = net_rsc_new(&cfg);
    g_assert_nonnull(e);
    g_assert_cmpuint(net_rsc_memory(e), <=, net_rsc_memory_bound(e));
    net_rsc_free(e);
}

/*
 * Malformed frames never crash and leave untouched, at once
 */

static void feed_malformed(Ctx *c, const uint8_t *data, size_t len,
                           const char *what)
{
    /* an exact-size copy, so that a sanitizer sees any overread */
    uint8_t *copy = g_malloc(MAX(len, 1));
    guint before = c->out->len;
    Pkt *p;

    g_test_message("malformed: %s", what);
    memcpy(copy, data, len);
    g_assert_cmpint(net_rsc_receive(c->e, NULL, copy, len, T0), ==,
                    NET_RSC_TAKEN);
    g_assert_cmpmem(copy, len, data, len);
    g_assert_cmpuint(c->out->len, ==, before + 1);
    p = out_pkt(c, before);
    g_assert_cmpmem(p->data->data, p->data->len, data, len);
    assert_hdr(&p->hdr, &hdr_zero);
    g_free(copy);
}

static void test_malformed(void)
{
    RscFrameSpec d[2], s;
    g_autoptr(GByteArray) v4 = NULL;
    g_autoptr(GByteArray) v6 = NULL;
    g_autoptr(GByteArray) bare = NULL;
    uint8_t buf[2048];
    size_t l3 = RSC_ETH_HLEN, l4 = RSC_ETH_HLEN + 20;
    unsigned i, n = 0;
    Ctx c;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 2; i++) {
        mss_spec(&d[i], 4, 0, i, true);
        feed_spec(&c, NULL, &d[i], T0);
    }

    /* flow 1: a valid segment to break */
    rsc_frame_spec_init(&s, 4, 1);
    s.payload_len = 100;
    v4 = rsc_frame_build(&s);
    rsc_frame_spec_init(&s, 4, 1);
    bare = rsc_frame_build(&s);         /* 54 bytes, no payload */
    rsc_frame_spec_init(&s, 6, 1);
    s.payload_len = 100;
    v6 = rsc_frame_build(&s);

#define BREAK(base, what) \
    do { \
        memcpy(buf, (base)->data, (base)->len); \
        what; \
    } while (0)

    feed_malformed(&c, v4->data, 0, "empty frame");
    n++;
    feed_malformed(&c, v4->data, 1, "1 byte");
    n++;
    feed_malformed(&c, v4->data, 13, "truncated Ethernet header");
    n++;
    feed_malformed(&c, v4->data, 14, "Ethernet header only");
    n++;
    feed_malformed(&c, v4->data, l3 + 10, "truncated IPv4 header");
    n++;
    feed_malformed(&c, v4->data, l4 + 10, "truncated TCP header");
    n++;

    BREAK(v4, buf[l3] = 0x44; rsc_frame_ipv4_fix_csum(buf, l3));
    feed_malformed(&c, buf, v4->len, "IHL 4");
    n++;
    BREAK(v4, buf[l3] = 0x40; rsc_frame_ipv4_fix_csum(buf, l3));
    feed_malformed(&c, buf, v4->len, "IHL 0");
    n++;
    BREAK(bare, buf[l3] = 0x4f);
    feed_malformed(&c, buf, l3 + 40, "IHL 15 past the frame");
    n++;
    BREAK(v4, buf[l3] = 0x65; rsc_frame_ipv4_fix_csum(buf, l3));
    feed_malformed(&c, buf, v4->len, "IP version 6 in an IPv4 frame");
    n++;
    BREAK(v4, buf[l4 + 12] = 0x40);
    feed_malformed(&c, buf, v4->len, "TCP data offset 4");
    n++;
    BREAK(v4, buf[l4 + 12] = 0x00);
    feed_malformed(&c, buf, v4->len, "TCP data offset 0");
    n++;
    BREAK(bare, buf[l4 + 12] = 0xf0);
    feed_malformed(&c, buf, bare->len, "TCP data offset past the frame");
    n++;
    BREAK(v4, buf[l3 + 2] = 0x0f; buf[l3 + 3] = 0x00;
          rsc_frame_ipv4_fix_csum(buf, l3));
    feed_malformed(&c, buf, v4->len, "IP total length beyond the frame");
    n++;
    BREAK(v4, buf[l3 + 2] = 0; buf[l3 + 3] = 30;
          rsc_frame_ipv4_fix_csum(buf, l3));
    feed_malformed(&c, buf, v4->len, "IP total length cuts TCP header");
    n++;
    BREAK(v4, buf[l3 + 2] = 0; buf[l3 + 3] = 10;
          rsc_frame_ipv4_fix_csum(buf, l3));
    feed_malformed(&c, buf, v4->len, "IP total length < IP header");
    n++;
    BREAK(v4, buf[l3 + 2] = 0; buf[l3 + 3] = 0;
          rsc_frame_ipv4_fix_csum(buf, l3));
    feed_malformed(&c, buf, v4->len, "IP total length 0");
    n++;

    /* TCP options that run past the header or never end */
    BREAK(v4, buf[l4 + 12] = 0x60; buf[l4 + 20] = 8; buf[l4 + 21] = 40;
          rsc_frame_ipv4_fix_csum(buf, l3));
    feed_malformed(&c, buf, v4->len, "TCP option length past header");
    n++;
    BREAK(v4, buf[l4 + 12] = 0x60; buf[l4 + 20] = 3; buf[l4 + 21] = 0;
          rsc_frame_ipv4_fix_csum(buf, l3));
    feed_malformed(&c, buf, v4->len, "TCP option length 0");
    n++;
    BREAK(v4, buf[l4 + 12] = 0x60; buf[l4 + 20] = 1; buf[l4 + 21] = 1;
          buf[l4 + 22] = 1; buf[l4 + 23] = 8;
          rsc_frame_ipv4_fix_csum(buf, l3));
    feed_malformed(&c, buf, v4->len, "TCP option kind at header end");
    n++;

    feed_malformed(&c, v6->data, l3 + 30, "truncated IPv6 header");
    n++;
    feed_malformed(&c, v6->data, l3 + 40 + 12, "truncated TCP over IPv6");
    n++;
    BREAK(v6, buf[l3 + 4] = 0x10; buf[l3 + 5] = 0);
    feed_malformed(&c, buf, v6->len, "IPv6 payload length beyond frame");
    n++;
    BREAK(v6, buf[l3 + 4] = 0; buf[l3 + 5] = 12);
    feed_malformed(&c, buf, v6->len, "IPv6 payload length cuts TCP");
    n++;
    BREAK(v6, buf[l3] = 0x45);
    feed_malformed(&c, buf, v6->len, "IP version 4 in an IPv6 frame");
    n++;
    BREAK(v6, buf[l3 + 6] = RSC_IPV6_HOPOPTS);
    feed_malformed(&c, buf, l3 + 40 + 4, "IPv6 ext header truncated");
    n++;
    BREAK(v4, buf[12] = 0x81; buf[13] = 0x00);
    feed_malformed(&c, buf, 16, "truncated VLAN tag");
    n++;
#undef BREAK

    /* the pending unit of flow 0 was not disturbed */
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 1);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, n + 1);
    assert_merged(out_pkt(&c, n), &d[0], 2);
    g_assert_cmpuint(stats(&c)->received, ==, n + 2);
    ctx_cleanup(&c);
}

/*
 * GSO mode: plain GSO packets that the guest re-segments into exactly the
 * frames fed
 */

#define GSO_SEGS    4

static void unref_frame(gpointer p)
{
    g_byte_array_unref(p);
}

/*
 * Everything delivered, each GSO packet cut as the guest's segmentation
 * cuts it, is the frames @fed in order, byte for byte; and every GSO
 * packet carries the partial checksum NEEDS_CSUM promises.
 */
static void assert_resegments(Ctx *c, GPtrArray *fed)
{
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(unref_frame);
    guint i, j;

    for (i = 0; i < c->out->len; i++) {
        Pkt *p = out_pkt(c, i);
        g_autoptr(GPtrArray) segs = NULL;
        RscFrameInfo info;
        const uint8_t *th;

        if (p->hdr.gso_type == NET_RSC_GSO_NONE) {
            g_ptr_array_add(got, g_byte_array_ref(p->data));
            continue;
        }
        g_assert_true(rsc_frame_parse(p->data->data, p->data->len, &info));
        g_assert_cmpuint(p->hdr.gso_type, ==, info.ip_version == 4 ?
                         NET_RSC_GSO_TCPV4 : NET_RSC_GSO_TCPV6);
        g_assert_cmpuint(p->hdr.flags, ==, NET_RSC_F_NEEDS_CSUM);
        g_assert_cmpuint(p->hdr.csum_start, ==, info.l4_off);
        g_assert_cmpuint(p->hdr.csum_offset, ==, 16);
        g_assert_cmpuint(p->hdr.hdr_len, ==, info.payload_off);
        g_assert_cmpuint(p->hdr.segments, ==, 0);
        g_assert_cmpuint(p->hdr.dup_acks, ==, 0);
        g_assert_true(info.ip_csum_ok);
        th = p->data->data + info.l4_off;
        g_assert_cmphex(th[16] << 8 | th[17], ==,
                        rsc_csum_fold(rsc_csum_pseudo(info.ip_version,
                                                      info.src, info.dst,
                                                      RSC_IPPROTO_TCP,
                                                      info.ip_len -
                                                      (info.l4_off -
                                                       info.l3_off))));
        segs = rsc_frame_gso_split(p->data->data, p->data->len,
                                   p->hdr.gso_size);
        g_assert_cmpuint(segs->len, >=, 2);
        for (j = 0; j < segs->len; j++) {
            g_ptr_array_add(got,
                            g_byte_array_ref(g_ptr_array_index(segs, j)));
        }
    }
    g_assert_cmpuint(got->len, ==, fed->len);
    for (i = 0; i < fed->len; i++) {
        assert_bytes(g_ptr_array_index(got, i), g_ptr_array_index(fed, i));
    }
}

/* Segment @i of one flow as one sender sends them: equal headers */
static void gso_spec(RscFrameSpec *s, int ipv, unsigned i)
{
    rsc_frame_spec_init(s, ipv, 0);
    s->seq += i * MSS;
    s->payload_len = MSS;
    s->ts = true;
    s->ip_id += i;
}

/* What a GSO case changes in the segments it applies to */
typedef enum GsoChange {
    GSO_SAME,
    GSO_ACK,            /* add @by */
    GSO_WINDOW,
    GSO_TSVAL,
    GSO_TSECR,
    GSO_TTL,
    GSO_IP_ID,
    GSO_IP_ID_FIXED,    /* every segment has the first one's ID */
    GSO_FLOW_LABEL,
    GSO_NO_TS,          /* no timestamp option */
    GSO_PAYLOAD,        /* payload length set to @by */
    GSO_FLAGS,          /* TCP flags ORed with @by */
    GSO_FLAGS_NO_DATA,  /* likewise, and no payload */
    GSO_TOS,            /* TOS / traffic class ORed with @by */
    GSO_URG_PTR,        /* urgent pointer set to @by, URG clear */
    GSO_FLAGS_HI,       /* AE and reserved TCP bits set to @by */
} GsoChange;

typedef struct GsoCase {
    const char *name;
    int ipv;
    GsoChange change;
    int32_t by;
    unsigned seg;       /* the segment changed, of GSO_SEGS ... */
    bool onward;        /* ... and with this, every later one too */
    unsigned pkts;      /* packets delivered */
} GsoCase;

static const GsoCase gso_cases[] = {
    { "ipv4/same", 4, GSO_SAME, 0, 0, true, 1 },
    { "ipv6/same", 6, GSO_SAME, 0, 0, true, 1 },
    { "ipv4/ack-advance", 4, GSO_ACK, 1000, 2, true, 2 },
    { "ipv6/window", 6, GSO_WINDOW, 1, 2, true, 2 },
    { "ipv4/tsval", 4, GSO_TSVAL, 1, 2, true, 2 },
    { "ipv6/tsecr", 6, GSO_TSECR, 1, 2, true, 2 },
    { "ipv4/ttl", 4, GSO_TTL, -1, 2, true, 2 },
    { "ipv6/hop-limit", 6, GSO_TTL, -1, 2, true, 2 },
    { "ipv4/id-jump", 4, GSO_IP_ID, 100, 2, true, 2 },
    { "ipv4/id-fixed", 4, GSO_IP_ID_FIXED, 0, 0, true, 4 },
    { "ipv6/flow-label", 6, GSO_FLOW_LABEL, 1, 2, true, 2 },
    { "ipv4/options", 4, GSO_NO_TS, 0, 2, true, 2 },
    { "ipv4/larger", 4, GSO_PAYLOAD, MSS + 8, 2, false, 2 },
    { "ipv6/short", 6, GSO_PAYLOAD, 100, 1, false, 2 },
    { "ipv4/psh", 4, GSO_FLAGS, RSC_TCP_PSH, 1, false, 2 },
    { "ipv4/psh-first", 4, GSO_FLAGS, RSC_TCP_PSH, 0, false, 2 },
    { "ipv4/dup-ack", 4, GSO_PAYLOAD, 0, 2, false, 3 },
    { "ipv6/fin", 6, GSO_FLAGS, RSC_TCP_FIN, 3, false, 1 },
    { "ipv4/fin-middle", 4, GSO_FLAGS, RSC_TCP_FIN, 1, false, 2 },
    { "ipv6/fin-alone", 6, GSO_FLAGS_NO_DATA, RSC_TCP_FIN, 3, false, 2 },
    { "ipv4/ce", 4, GSO_TOS, 3, 2, true, 3 },
    { "ipv6/ce", 6, GSO_TOS, 3, 2, true, 3 },
    { "ipv4/urgent-pointer", 4, GSO_URG_PTR, 7, 2, true, 2 },
    { "ipv6/ae", 6, GSO_FLAGS_HI, 1, 1, false, 3 },
    /*
     * Linux GRO flushes on CWR and on flags that differ from the held
     * packet's (ECE); and without GUEST_ECN no GSO packet may carry ECN:
     * a segment with CWR or ECE goes out alone, as it came
     */
    { "ipv4/cwr", 4, GSO_FLAGS, RSC_TCP_CWR, 2, false, 3 },
    { "ipv6/ece", 6, GSO_FLAGS, RSC_TCP_ECE, 2, true, 3 },
};

static void gso_apply(const GsoCase *gc, RscFrameSpec *s, unsigned i)
{
    if (i < gc->seg || (i > gc->seg && !gc->onward)) {
        return;
    }
    switch (gc->change) {
    case GSO_SAME:
        break;
    case GSO_ACK:
        s->ack += gc->by;
        break;
    case GSO_WINDOW:
        s->window += gc->by;
        break;
    case GSO_TSVAL:
        s->tsval += gc->by;
        break;
    case GSO_TSECR:
        s->tsecr += gc->by;
        break;
    case GSO_TTL:
        s->ttl += gc->by;
        break;
    case GSO_IP_ID:
        s->ip_id += gc->by;
        break;
    case GSO_IP_ID_FIXED:
        s->ip_id -= i;
        break;
    case GSO_FLOW_LABEL:
        s->flow_label ^= gc->by;
        break;
    case GSO_NO_TS:
        s->ts = false;
        break;
    case GSO_PAYLOAD:
        s->payload_len = gc->by;
        break;
    case GSO_FLAGS_NO_DATA:
        s->payload_len = 0;
        /* fall through */
    case GSO_FLAGS:
        s->tcp_flags |= gc->by;
        break;
    case GSO_TOS:
        s->tos |= gc->by;
        break;
    case GSO_URG_PTR:
        s->urg_ptr = gc->by;
        break;
    case GSO_FLAGS_HI:
        s->tcp_flags_hi = gc->by;
        break;
    }
}

static void test_gso_case(gconstpointer opaque)
{
    const GsoCase *gc = opaque;
    g_autoptr(GPtrArray) fed = g_ptr_array_new_with_free_func(unref_frame);
    uint32_t seq = RSC_FRAME_ISN(0);
    Ctx c;
    unsigned i;

    ctx_init_mode(&c, NET_RSC_MODE_GSO, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < GSO_SEGS; i++) {
        RscFrameSpec s;
        GByteArray *f;

        gso_spec(&s, gc->ipv, i);
        gso_apply(gc, &s, i);
        s.seq = seq;
        seq += s.payload_len;
        f = rsc_frame_build(&s);
        g_ptr_array_add(fed, g_byte_array_ref(f));
        feed(&c, &hdr_zero, f, T0 + i);
    }
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, gc->pkts);
    assert_resegments(&c, fed);
    g_assert_cmpuint(stats(&c)->dup_acks, ==, 0);
    g_assert_cmpuint(stats(&c)->window_updates, ==, 0);
    ctx_cleanup(&c);
}

/* The coalesced packet byte for byte, and PSH delivering it at once */
static void test_gso_packet(void)
{
    g_autoptr(GByteArray) exp_frame = NULL;
    RscFrameSpec s, exp;
    Ctx c;
    unsigned i;

    ctx_init_mode(&c, NET_RSC_MODE_GSO, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < GSO_SEGS; i++) {
        gso_spec(&s, 4, i);
        if (i == GSO_SEGS - 1) {
            s.tcp_flags |= RSC_TCP_PSH;
        }
        feed_spec(&c, &hdr_zero, &s, T0 + i);
    }
    /* no timer needed: nothing can follow a PSH segment */
    g_assert_cmpuint(c.out->len, ==, 1);
    g_assert_cmpuint(net_rsc_pending(c.e), ==, 0);
    g_assert_cmpint(net_rsc_deadline(c.e), ==, INT64_MAX);

    gso_spec(&exp, 4, 0);
    exp.payload_len = GSO_SEGS * MSS;
    exp.tcp_flags |= RSC_TCP_PSH;
    exp.l4_csum = RSC_CSUM_PARTIAL;
    exp_frame = rsc_frame_build(&exp);
    assert_bytes(out_pkt(&c, 0)->data, exp_frame);
    assert_hdr(&out_pkt(&c, 0)->hdr, &(NetRscHdr) {
        .flags = NET_RSC_F_NEEDS_CSUM,
        .gso_type = NET_RSC_GSO_TCPV4,
        .hdr_len = rsc_frame_hdr_len(&exp),
        .gso_size = MSS,
        .csum_start = rsc_frame_l4_offset(&exp),
        .csum_offset = 16,
    });
    assert_stats(&c, &(NetRscStats) {
        .received = GSO_SEGS,
        .coalesced_pkts = GSO_SEGS,
        .coalesced_octets = GSO_SEGS * MSS,
        .coalesce_events = 1,
        .delivered = 1,
    });
    ctx_cleanup(&c);
}

/* The guest refuses the packet a PSH segment closed: held, then resumed */
static void test_gso_refuse(void)
{
    g_autoptr(GPtrArray) fed = g_ptr_array_new_with_free_func(unref_frame);
    RscFrameSpec s;
    GByteArray *f;
    Ctx c;

    ctx_init_mode(&c, NET_RSC_MODE_GSO, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    gso_spec(&s, 6, 0);
    f = rsc_frame_build(&s);
    g_ptr_array_add(fed, g_byte_array_ref(f));
    feed(&c, &hdr_zero, f, T0);
    gso_spec(&s, 6, 1);
    s.tcp_flags |= RSC_TCP_PSH;
    f = rsc_frame_build(&s);
    g_ptr_array_add(fed, g_byte_array_ref(f));
    c.refuse = true;
    feed(&c, &hdr_zero, f, T0);
    g_assert_true(net_rsc_stalled(c.e));
    g_assert_cmpuint(c.refusals, ==, 1);

    /* the next frame waits, the coalesced packet goes first */
    gso_spec(&s, 6, 2);
    f = rsc_frame_build(&s);
    g_assert_cmpint(receive(&c, &hdr_zero, f, T0), ==, NET_RSC_STALLED);
    g_assert_false(net_rsc_resume(c.e));
    c.refuse = false;
    g_assert_true(net_rsc_resume(c.e));
    g_ptr_array_add(fed, g_byte_array_ref(f));
    feed(&c, &hdr_zero, f, T0);
    net_rsc_flush(c.e);
    g_assert_cmpuint(c.out->len, ==, 2);
    assert_resegments(&c, fed);
    ctx_cleanup(&c);
}

/*
 * A coalesced packet waits for guest buffers and the guest switches the
 * offload off: it gets the segments the packet was made of instead, with
 * complete checksums and no flags.  Low nibble of @opaque: IP version;
 * SPLIT_BACK_ON: after taking two, the guest switches the offload on
 * again and gets the rest as one packet (SPLIT_LAST: after taking all
 * but the last, which then is a plain frame); SPLIT_TINY: 8-byte segments.
 */
#define SPLIT_BACK_ON   0x10
#define SPLIT_TINY      0x20
#define SPLIT_LAST      0x40

static void test_gso_split_held(gconstpointer opaque)
{
    int ipv = GPOINTER_TO_INT(opaque) & 0xf;
    bool back_on = GPOINTER_TO_INT(opaque) & SPLIT_BACK_ON;
    bool tiny = GPOINTER_TO_INT(opaque) & SPLIT_TINY;
    guint room = GPOINTER_TO_INT(opaque) & SPLIT_LAST ? 4 : 2;
    g_autoptr(GPtrArray) fed = g_ptr_array_new_with_free_func(unref_frame);
    RscFrameSpec s;
    GByteArray *f;
    Ctx c;
    guint i;

    ctx_init_mode(&c, NET_RSC_MODE_GSO, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    c.refuse = true;
    for (i = 0; i < 5; i++) {
        gso_spec(&s, ipv, i);
        if (tiny) {
            /* parts shorter than the headers written in front of them */
            s.seq += i * (8 - MSS);
            s.payload_len = 8;
        }
        if (i == 4) {
            s.payload_len = tiny ? 4 : 1000;
            s.tcp_flags |= RSC_TCP_PSH;
        }
        f = rsc_frame_build(&s);
        g_ptr_array_add(fed, g_byte_array_ref(f));
        feed(&c, &hdr_zero, f, T0);
    }
    g_assert_true(net_rsc_stalled(c.e));
    net_rsc_set_protocols(c.e, false, false);
    /* still no room: the first part is refused, the packet stays whole */
    g_assert_false(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, 0);

    /* room for two parts, or for all but the last */
    c.refuse = false;
    c.calls = 0;
    c.refuse_every = room + 1;
    g_assert_false(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, room);
    c.refuse_every = 0;
    if (back_on) {
        net_rsc_set_protocols(c.e, true, true);
    }
    g_assert_true(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, back_on ? room + 1 : 5);
    for (i = 0; i < c.out->len; i++) {
        if (out_pkt(&c, i)->hdr.gso_type == NET_RSC_GSO_NONE) {
            assert_hdr(&out_pkt(&c, i)->hdr, &hdr_zero);
        }
    }
    assert_resegments(&c, fed);
    g_assert_cmpuint(stats(&c)->delivered, ==, c.out->len);
    /* only a rest of two or more segments left as a coalesced packet */
    if (back_on && room == 2) {
        g_assert_cmpuint(stats(&c)->coalesce_events, ==, 1);
        g_assert_cmpuint(stats(&c)->coalesced_pkts, ==, 3);
        g_assert_cmpuint(stats(&c)->coalesced_octets, ==,
                         tiny ? 2 * 8 + 4 : 2 * MSS + 1000);
    } else {
        g_assert_cmpuint(stats(&c)->coalesce_events, ==, 0);
    }
    ctx_cleanup(&c);
}

/*
 * Not so in RSC_EXT mode (bit 61 switched off): an RSC packet held then
 * goes out as it is, since cutting it would not give the segments back.
 */
static void test_rsc_not_split(void)
{
    RscFrameSpec s[4];
    Ctx c;
    guint i;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 4; i++) {
        mss_spec(&s[i], 4, 0, i, true);
        feed_spec(&c, NULL, &s[i], T0);
    }
    c.refuse = true;
    net_rsc_flush(c.e);
    g_assert_true(net_rsc_stalled(c.e));
    net_rsc_set_protocols(c.e, false, false);
    c.refuse = false;
    g_assert_true(net_rsc_resume(c.e));
    g_assert_cmpuint(c.out->len, ==, 1);
    assert_merged(out_pkt(&c, 0), s, 4);
    ctx_cleanup(&c);
}

/*
 * A held packet that a migration brought is cut up only if its headers
 * are what the engine makes; anything else goes out as it came.
 */
static void test_split_migrated(void)
{
    RscFrameSpec s[3];
    g_autoptr(GByteArray) pkt = NULL;
    NetRscHdr hdr, bad[2];
    Ctx a, b;
    guint i;

    ctx_init_mode(&a, NET_RSC_MODE_GSO, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < 3; i++) {
        gso_spec(&s[i], 6, i);
        feed_spec(&a, NULL, &s[i], T0);
    }
    net_rsc_flush(a.e);
    g_assert_cmpuint(a.out->len, ==, 1);
    pkt = g_byte_array_ref(out_pkt(&a, 0)->data);
    hdr = out_pkt(&a, 0)->hdr;
    ctx_cleanup(&a);

    ctx_init_mode(&b, NET_RSC_MODE_GSO, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    net_rsc_set_protocols(b.e, false, false);
    g_assert_true(net_rsc_hold(b.e, &hdr, pkt->data, pkt->len));
    bad[0] = hdr;
    bad[0].hdr_len += 4;
    bad[1] = hdr;
    bad[1].flags = 0;
    for (i = 0; i < 2; i++) {
        g_assert_true(net_rsc_hold(b.e, &bad[i], pkt->data, pkt->len));
    }
    g_assert_true(net_rsc_resume(b.e));
    g_assert_cmpuint(b.out->len, ==, 5);
    for (i = 0; i < 3; i++) {
        assert_single(out_pkt(&b, i), NULL, &s[i]);
    }
    for (i = 0; i < 2; i++) {
        assert_bytes(out_pkt(&b, 3 + i)->data, pkt);
        assert_hdr(&out_pkt(&b, 3 + i)->hdr, &bad[i]);
    }
    ctx_cleanup(&b);
}

/*
 * A large TCP packet the backend made (host GRO, TSO of a local sender):
 * in RSC_EXT mode delivered alone and untouched, with RSC_INFO added to
 * its header and the segment count from its headers, dup_acks 0, the
 * other fields as given.  In GSO mode (no RSC_INFO allowed) and for a
 * UDP GSO type, the header as given.
 */
typedef struct BackendGso {
    uint8_t gso_type;       /* ORed into TCPV4/TCPV6, or UDP (3) */
    uint16_t gso_size;
    uint16_t flags;
    size_t payload;
    size_t pad;             /* Ethernet padding after the datagram */
    bool vlan;
    bool ext;               /* IPv6 hop-by-hop options header */
    uint16_t hdr_len;       /* 0: the true one; else a wrong value */
    uint16_t segments;      /* expected in RSC_EXT mode, 0: no RSC_INFO */
} BackendGso;

static const BackendGso backend_gso[] = {
    /* not a multiple of gso_size; hdr_len lies */
    { 0, MSS, NET_RSC_F_NEEDS_CSUM, 3 * MSS + 100, 0, false, false, 14, 4 },
    /* the ECN bit, DATA_VALID */
    { NET_RSC_GSO_ECN, 1000, NET_RSC_F_DATA_VALID, 2500, 0, false, false,
      0, 3 },
    /* gso_size 0: one segment */
    { 0, 0, NET_RSC_F_NEEDS_CSUM, 2 * MSS, 0, false, false, 0, 1 },
    /* padding is not payload */
    { 0, MSS, NET_RSC_F_NEEDS_CSUM, 2 * MSS, 60, false, false, 0, 2 },
    /* a VLAN tag (bypass), an extension header (an abort) */
    { 0, MSS, NET_RSC_F_NEEDS_CSUM, MSS + 1, 0, true, false, 0, 2 },
    { 0, 536, NET_RSC_F_NEEDS_CSUM, 5000, 0, false, true, 0, 10 },
    /* a UDP GSO type: left alone */
    { 3, MSS, NET_RSC_F_NEEDS_CSUM, 2 * MSS, 0, false, false, 0, 0 },
};

static void test_gso_backend(gconstpointer opaque)
{
    int ipv = GPOINTER_TO_INT(opaque) & 0xff;
    bool gso_mode = GPOINTER_TO_INT(opaque) & 0x100;
    RscFrameSpec d[2], g;
    NetRscHdr in, exp;
    unsigned i, out;
    Ctx c;

    ctx_init_mode(&c, gso_mode ? NET_RSC_MODE_GSO : NET_RSC_MODE_RSC_EXT,
                  NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (i = 0; i < G_N_ELEMENTS(backend_gso); i++) {
        const BackendGso *b = &backend_gso[i];

        if (b->ext && ipv == 4) {
            continue;
        }
        /* a unit of flow i first, which the GSO packet closes */
        out = c.out->len;
        mss_spec(&d[0], ipv, i, 0, !gso_mode);
        mss_spec(&d[1], ipv, i, 1, !gso_mode);
        feed_spec(&c, &hdr_zero, &d[0], T0);
        feed_spec(&c, &hdr_zero, &d[1], T0);

        mss_spec(&g, ipv, i, 2, !gso_mode);
        g.payload_len = b->payload;
        g.l4_csum = RSC_CSUM_PARTIAL;
        g.vlan = b->vlan;
        g.ext_hdr = b->ext ? RSC_IPV6_HOPOPTS : -1;
        if (b->pad) {
            g.min_len = rsc_frame_hdr_len(&g) + b->payload + b->pad;
            g.pad_byte = 0xee;
        }
        in = (NetRscHdr) {
            .flags = b->flags,
            .gso_type = (b->gso_type == 3 ? 3 : ipv == 4 ?
                         NET_RSC_GSO_TCPV4 : NET_RSC_GSO_TCPV6) |
                        (b->gso_type & NET_RSC_GSO_ECN),
            .hdr_len = b->hdr_len ? b->hdr_len : rsc_frame_hdr_len(&g),
            .gso_size = b->gso_size,
            .csum_start = rsc_frame_l4_offset(&g),
            .csum_offset = 16,
        };
        feed_spec(&c, &in, &g, T0);

        exp = in;
        if (!gso_mode && b->segments) {
            exp.flags |= NET_RSC_F_RSC_INFO;
            exp.segments = b->segments;
        }
        g_test_message("case %u", i);
        /* the unit first, unless the packet bypasses (VLAN) */
        g_assert_cmpuint(c.out->len, ==, out + (b->vlan ? 1 : 2));
        if (!b->vlan) {
            if (gso_mode) {
                g_assert_cmpuint(out_pkt(&c, out)->hdr.flags, ==,
                                 NET_RSC_F_NEEDS_CSUM);
            } else {
                assert_merged(out_pkt(&c, out), &d[0], 2);
            }
        }
        assert_single(out_pkt(&c, c.out->len - 1), &exp, &g);
        net_rsc_flush(c.e);
    }
    if (!gso_mode) {
        g_assert_cmpuint(stats(&c)->aborts, ==, ipv == 6 ? 1 : 0);
        g_assert_cmpuint(stats(&c)->bypassed, ==, 1);
    }
    ctx_cleanup(&c);
}

/* Switching rules at run time: what a window update does tells them apart */
static void test_gso_set_mode(void)
{
    RscFrameSpec s, ack;
    Ctx c;
    unsigned round;

    ctx_init(&c, NET_RSC_DEFAULT_FLOWS, INTERVAL);
    for (round = 0; round < 2; round++) {
        guint before = c.out->len;

        gso_spec(&s, 4, 2 * round);
        feed_spec(&c, &hdr_zero, &s, T0);
        gso_spec(&s, 4, 2 * round + 1);
        feed_spec(&c, &hdr_zero, &s, T0);
        pure_ack_spec(&ack, &s);
        ack.window = 800;
        feed_spec(&c, &hdr_zero, &ack, T0);
        net_rsc_flush(c.e);
        if (round == 0) {
            /* RSC_EXT: the window update is absorbed */
            g_assert_cmpuint(c.out->len - before, ==, 1);
            g_assert_cmpuint(out_pkt(&c, before)->hdr.segments, ==, 2);
            g_assert_cmpuint(stats(&c)->window_updates, ==, 1);
            net_rsc_set_mode(c.e, NET_RSC_MODE_GSO);
        } else {
            /* GSO: it goes to the guest as it came */
            g_assert_cmpuint(c.out->len - before, ==, 2);
            g_assert_cmpuint(out_pkt(&c, before)->hdr.flags, ==,
                             NET_RSC_F_NEEDS_CSUM);
            assert_single(out_pkt(&c, before + 1), &hdr_zero, &ack);
        }
    }
    ctx_cleanup(&c);
}

static void add_gso_cases(void)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(gso_cases); i++) {
        g_autofree char *path = g_strdup_printf("/net/rsc/gso/%s",
                                                gso_cases[i].name);
        g_test_add_data_func(path, &gso_cases[i], test_gso_case);
    }
    g_test_add_func("/net/rsc/gso/packet", test_gso_packet);
    g_test_add_func("/net/rsc/gso/refuse", test_gso_refuse);
    g_test_add_func("/net/rsc/gso/set-mode", test_gso_set_mode);
    g_test_add_data_func("/net/rsc/gso-backend/ipv4", GINT_TO_POINTER(4),
                         test_gso_backend);
    g_test_add_data_func("/net/rsc/gso-backend/ipv6", GINT_TO_POINTER(6),
                         test_gso_backend);
    g_test_add_data_func("/net/rsc/gso-backend/gso-mode-ipv4",
                         GINT_TO_POINTER(0x100 | 4), test_gso_backend);
    g_test_add_data_func("/net/rsc/gso-backend/gso-mode-ipv6",
                         GINT_TO_POINTER(0x100 | 6), test_gso_backend);
    g_test_add_data_func("/net/rsc/split/gso-ipv4", GINT_TO_POINTER(4),
                         test_gso_split_held);
    g_test_add_data_func("/net/rsc/split/gso-ipv6", GINT_TO_POINTER(6),
                         test_gso_split_held);
    g_test_add_data_func("/net/rsc/split/gso-back-on",
                         GINT_TO_POINTER(4 | SPLIT_BACK_ON),
                         test_gso_split_held);
    g_test_add_data_func("/net/rsc/split/gso-last-back-on",
                         GINT_TO_POINTER(6 | SPLIT_LAST | SPLIT_BACK_ON),
                         test_gso_split_held);
    g_test_add_data_func("/net/rsc/split/gso-tiny",
                         GINT_TO_POINTER(6 | SPLIT_TINY),
                         test_gso_split_held);
    g_test_add_data_func("/net/rsc/split/gso-tiny-back-on",
                         GINT_TO_POINTER(4 | SPLIT_TINY | SPLIT_BACK_ON),
                         test_gso_split_held);
    g_test_add_func("/net/rsc/split/not-rsc-ext", test_rsc_not_split);
    g_test_add_func("/net/rsc/split/migrated", test_split_migrated);
}

static void add_csum_cases(void)
{
    static const char *const hdr_name[2] = { "", "-zero-hdr" };
    int ipv, z;

    for (ipv = 4; ipv <= 6; ipv += 2) {
        for (z = 0; z < 2; z++) {
            gconstpointer data = GINT_TO_POINTER(ipv | (z ? ZERO_HDR : 0));
            g_autofree char *lengths =
                g_strdup_printf("/net/rsc/csum/payload-lengths-v%d%s", ipv,
                                hdr_name[z]);
            g_autofree char *first =
                g_strdup_printf("/net/rsc/csum/bad-first-v%d%s", ipv,
                                hdr_name[z]);

            g_test_add_data_func(lengths, data, test_payload_lengths);
            g_test_add_data_func(first, data, test_csum_bad_first);
        }
    }
}

static void add_fin_cases(void)
{
    unsigned i;

    for (i = 0; i < G_N_ELEMENTS(fin_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/net/rsc/ipv%d/finalize/%s", fin_cases[i].ipv,
                            fin_cases[i].name);

        g_test_add_data_func(path, &fin_cases[i], test_finalize);
    }
}

int main(int argc, char **argv)
{
    static const CoalesceCase v4_ts = { 4, true, false };
    static const CoalesceCase v4_nots = { 4, false, false };
    static const CoalesceCase v6_ts = { 6, true, false };
    static const CoalesceCase v6_nots = { 6, false, false };
    static const CoalesceCase v4_poll = { 4, true, true };
    static const CoalesceCase v6_poll = { 6, true, true };
    static const CoalesceCase v4_poll_nots = { 4, false, true };

    g_test_init(&argc, &argv, NULL);

    g_test_add_data_func("/net/rsc/ipv4/timestamps", &v4_ts, test_coalesce);
    g_test_add_data_func("/net/rsc/ipv4/no-timestamps", &v4_nots,
                         test_coalesce);
    g_test_add_data_func("/net/rsc/ipv6/timestamps", &v6_ts, test_coalesce);
    g_test_add_data_func("/net/rsc/ipv6/no-timestamps", &v6_nots,
                         test_coalesce);
    g_test_add_data_func("/net/rsc/ipv4/interval", &v4_poll, test_coalesce);
    g_test_add_data_func("/net/rsc/ipv4/interval-no-timestamps",
                         &v4_poll_nots, test_coalesce);
    g_test_add_data_func("/net/rsc/ipv6/interval", &v6_poll, test_coalesce);
    g_test_add_func("/net/rsc/interval/per-flow", test_interval_per_flow);
    g_test_add_func("/net/rsc/flows/interleaved", test_flows_interleaved);
    g_test_add_func("/net/rsc/single/headers", test_single);
    add_csum_cases();
    g_test_add_data_func("/net/rsc/csum/data-valid", GINT_TO_POINTER(false),
                         test_csum_vouched);
    g_test_add_data_func("/net/rsc/csum/partial", GINT_TO_POINTER(true),
                         test_csum_vouched);
    add_fin_cases();
    g_test_add_func("/net/rsc/bypass", test_bypass);
    g_test_add_func("/net/rsc/protocols", test_protocols);
    g_test_add_func("/net/rsc/pure-ack-alone", test_pure_ack_alone);
    g_test_add_func("/net/rsc/dup-acks/basic", test_dup_acks);
    g_test_add_func("/net/rsc/dup-acks/one-segment",
                    test_dup_acks_one_segment);
    g_test_add_func("/net/rsc/dup-acks/then-data", test_dup_ack_then_data);
    g_test_add_func("/net/rsc/dup-acks/not-counted", test_dup_ack_not_counted);
    g_test_add_func("/net/rsc/dup-acks/refused", test_dup_ack_refused);
    g_test_add_data_func("/net/rsc/window-update/basic",
                         GINT_TO_POINTER(false),
                         test_window_update);
    g_test_add_data_func("/net/rsc/window-update/then-data",
                         GINT_TO_POINTER(true), test_window_update);
    g_test_add_func("/net/rsc/dup-acks/many", test_dup_acks_many);
    g_test_add_func("/net/rsc/window-update/many", test_window_update_many);
    g_test_add_func("/net/rsc/interval/huge", test_interval_huge);
    g_test_add_func("/net/rsc/interval/zero", test_interval_zero);
    add_split_cases();
    g_test_add_func("/net/rsc/seq/gap", test_seq_gap);
    g_test_add_func("/net/rsc/seq/retransmit", test_seq_retransmit);
    g_test_add_data_func("/net/rsc/ipv4/ecn/runs", GINT_TO_POINTER(4),
                         test_ecn_runs);
    g_test_add_data_func("/net/rsc/ipv6/ecn/runs", GINT_TO_POINTER(6),
                         test_ecn_runs);
    g_test_add_data_func("/net/rsc/ecn/pure-ack", GINT_TO_POINTER(true),
                         test_ecn_alone);
    g_test_add_data_func("/net/rsc/ecn/bad-csum", GINT_TO_POINTER(false),
                         test_ecn_alone);
    g_test_add_func("/net/rsc/ecn/refused", test_ecn_refused);
    g_test_add_func("/net/rsc/psh/last", test_psh);
    g_test_add_func("/net/rsc/psh/first", test_psh_first);
    g_test_add_func("/net/rsc/ipv4/padding", test_padding);
    g_test_add_data_func("/net/rsc/ipv4/padding-bad-next",
                         GINT_TO_POINTER(4), test_padding_bad_next);
    g_test_add_data_func("/net/rsc/ipv6/padding-bad-next",
                         GINT_TO_POINTER(6), test_padding_bad_next);
    g_test_add_data_func("/net/rsc/ipv4/size-limit/mss", GINT_TO_POINTER(4),
                         test_size_limit);
    g_test_add_data_func("/net/rsc/ipv6/size-limit/mss", GINT_TO_POINTER(6),
                         test_size_limit);
    g_test_add_data_func("/net/rsc/ipv4/size-limit/exact",
                         GINT_TO_POINTER(4), test_size_limit_exact);
    g_test_add_data_func("/net/rsc/ipv6/size-limit/exact",
                         GINT_TO_POINTER(6), test_size_limit_exact);
    g_test_add_func("/net/rsc/size-limit/odd-sizes", test_size_limit_odd);
    g_test_add_func("/net/rsc/flows/eviction", test_eviction);
    g_test_add_func("/net/rsc/flows/eviction-bad-csum",
                    test_eviction_bad_csum);
    g_test_add_func("/net/rsc/flows/churn", test_churn);
    g_test_add_func("/net/rsc/refuse/receive", test_refuse_receive);
    g_test_add_func("/net/rsc/refuse/poll", test_refuse_poll);
    g_test_add_func("/net/rsc/refuse/eviction", test_refuse_eviction);
    g_test_add_func("/net/rsc/refuse/flush", test_refuse_flush);
    g_test_add_func("/net/rsc/refuse/stream", test_refuse_stream);
    g_test_add_func("/net/rsc/refuse/finalizer", test_refuse_finalizer);
    g_test_add_func("/net/rsc/refuse/purge", test_refuse_purge);
    g_test_add_data_func("/net/rsc/refuse/dropped-unit", GINT_TO_POINTER(0),
                         test_refuse_dropped);
    g_test_add_data_func("/net/rsc/refuse/dropped-frame", GINT_TO_POINTER(1),
                         test_refuse_dropped);
    g_test_add_func("/net/rsc/migrate/held", test_migrate_held);
    g_test_add_func("/net/rsc/migrate/hold-open", test_migrate_hold_open);
    g_test_add_func("/net/rsc/purge/all", test_purge);
    g_test_add_func("/net/rsc/purge/memory", test_purge_memory);
    g_test_add_func("/net/rsc/flush/all", test_flush);
#ifndef _WIN32
    {
        static const char *const reentry_names[] = {
            [REENTRY_RECEIVE] = "receive",
            [REENTRY_POLL] = "poll",
            [REENTRY_FLUSH] = "flush",
            [REENTRY_RESUME] = "resume",
            [REENTRY_PURGE] = "purge",
            [REENTRY_HOLD] = "hold",
            [REENTRY_SET_MODE] = "set-mode",
            [REENTRY_SET_PROTOCOLS] = "set-protocols",
        };
        int k;

        for (k = 0; k < G_N_ELEMENTS(reentry_names); k++) {
            g_autofree char *path =
                g_strdup_printf("/net/rsc/reentry/%s", reentry_names[k]);

            g_test_add_data_func(path, GINT_TO_POINTER(k), test_reentry);
        }
    }
#endif
    g_test_add_func("/net/rsc/config", test_config);
    add_gso_cases();
    g_test_add_func("/net/rsc/malformed", test_malformed);

    return g_test_run();
}
