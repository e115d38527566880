/*
 * Oracle for the RSC engine fuzzer and its replay test
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The oracle plays the backend (it feeds frames with a virtio-net header
 * or none), the guest (the delivery callback, which refuses packets when
 * told to) and QEMU's net queue (a FIFO of frames the engine did not take,
 * fed again in order after a successful net_rsc_resume()).
 *
 * Every frame the engine takes is "held" in its flow's queue until it
 * leaves the engine, alone (byte for byte, with its header) or inside a
 * coalesced packet.  A flow is what the engine keys (IPv4 or IPv6
 * addresses and TCP ports of a frame it can parse as TCP, see o_parse());
 * frames it cannot key must come out at once, unchanged.
 *
 * Since a flow has at most one unit, and a closed unit is delivered before
 * the engine takes anything else (or the engine stalls and takes nothing),
 * all frames held for a flow when one of its packets is delivered belong
 * to that packet, except the frame being fed at that moment, which
 * starts the next unit or follows it alone.  A pure ACK fed at that moment is
 * ambiguous until net_rsc_receive() returns: whether it was absorbed (a
 * window update) is then decided from what the packet's headers say and
 * from whether it came out alone.  A duplicate ACK of the open unit is
 * known before it is fed (dup_ack_of_unit()): it must close the unit and
 * come out alone.  So is a data segment whose ECN field differs from its
 * flow's open unit (ecn_new_unit()): it must close the unit and start the
 * next, as a segment past the size limit does.
 */

#include "qemu/osdep.h"
#include <stdarg.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include "qemu/bswap.h"
#include "net/rsc.h"
#include "rsc-oracle.h"
#include "rsc-frames.h"

#define ETH_HLEN        14
#define ETH_P_IPV4      0x0800
#define ETH_P_IPV6      0x86dd
#define IPV4_HLEN       20
#define IPV6_HLEN       40
#define TCP_HLEN        20
#define IP_PROTO_TCP    6
#define TCP_FIN         0x01
#define TCP_PSH         0x08
#define TCP_ACK         0x10
#define IPV6_MAX_EXT    8

#define CLOCK_START     1000000000LL
#define CLOCK_BIG       (INT64_MAX - (1LL << 30))

/* What the oracle parses of a frame, independently of the engine */
typedef struct OPkt {
    bool keyed;         /* a TCP segment the engine can key */
    bool ipv6;
    bool ext;           /* IPv4 options or MF, IPv6 extension headers */
    bool opts_ok;       /* TCP options: NOP, EOL, at most one timestamp */
    bool ip_csum_ok;    /* IPv4 header checksum (true for IPv6) */
    RscFlowKey key;
    uint32_t l4;        /* offsets from the frame start */
    uint32_t data;
    uint32_t end;       /* end of the IP datagram */
    uint32_t seq;
    uint32_t ack;
    uint16_t win;
    uint8_t flags;
    uint8_t ttl;        /* TTL or hop limit */
    uint32_t ts;        /* offset of TSval, 0 if none */
    uint32_t tsval;
    uint32_t tsecr;
} OPkt;

typedef enum OState {
    F_FIFO,             /* in the net queue, not taken */
    F_HELD,             /* taken, not out yet */
    F_MAYBE,            /* being fed, perhaps absorbed by a packet */
    F_DONE,             /* delivered alone */
    F_ABSORBED,         /* inside a coalesced packet, or purged */
} OState;

typedef struct OFlow OFlow;

typedef struct OFrame {
    uint8_t *data;
    size_t len;
    bool has_hdr;
    NetRscHdr hdr;
    OPkt p;
    OFlow *flow;        /* NULL if the engine cannot key it */
    OState state;
    uint64_t id;        /* number of the FRAME record, from 0 */
    int64_t taken_ns;
    /*
     * RSC_EXT: a duplicate ACK of its flow's open unit when last fed with
     * the engine taking frames; it must close the unit and go out alone,
     * and counts once taken.  Kept across a refusal: the engine feeds it
     * again as decided then.
     */
    bool dup_ack;
    /*
     * RSC_EXT: a data segment that could join but whose ECN field differs
     * from its flow's open unit when last fed with the engine taking
     * frames: the unit must close and, once taken, the segment must start
     * the next.  Kept across a refusal, as dup_ack.
     */
    bool ecn_new;
    bool decided;       /* fed to an engine taking frames, not taken */
} OFrame;

struct OFlow {
    RscFlowKey key;
    GQueue held;        /* of OFrame, in arrival order */
    bool cut;           /* a GSO packet of it is being cut into parts */
    bool migrated;      /* held as one packet given with net_rsc_hold() */
};

/* Whether the frame being fed must, or must not, have been absorbed */
enum {
    MAYBE_FREE = 0,
    MAYBE_MUST = 1,
    MAYBE_MUST_NOT = 2,
};

typedef struct Oracle {
    NetRscEngine *e;
    NetRscEngine *spare;    /* where MIGRATE moves held packets to */
    NetRscConfig cfg;
    bool gso;               /* NET_RSC_MODE_GSO */
    bool ipv4_on;           /* net_rsc_set_protocols() */
    bool ipv6_on;
    uint32_t max_flows;
    int64_t interval;
    int64_t now;
    unsigned refuse_left;
    GQueue fifo;            /* of OFrame, not taken yet */
    bool blocked;           /* receive stalled; wait for resume */
    GHashTable *flows;      /* RscFlowKey -> OFlow */
    GPtrArray *active;      /* flows with held frames */
    OFrame *inflight;       /* frame being fed */
    int maybe_req;
    uint8_t *last;          /* previous frame, for REPEAT */
    size_t last_len;
    size_t last_cap;
    uint64_t nframes;
    uint64_t fed_bytes;     /* frames made, see RSC_FUZZ_MAX_BYTES */
    uint64_t op_index;
    size_t op_offset;
    bool in_final;
    bool purged;
    size_t empty_mem;       /* net_rsc_memory() of a new engine */

    /* what the engine's counters must say */
    uint64_t taken;
    uint64_t accepted;
    uint64_t refusals;
    uint64_t dup_acks;
    uint64_t ecn_aborts;    /* a lower bound of stats.aborts */
    uint64_t window_updates;
    uint64_t rsc_events;
    uint64_t rsc_segs;
    uint64_t rsc_octets;
} Oracle;

static RscOracleFailFunc *fail_handler;
static bool verbose;
static Oracle *current;

/* Arguments are not evaluated unless verbose: they may be costly */
#define O_LOG(...) \
    do { \
        if (verbose) { \
            o_log(__VA_ARGS__); \
        } \
    } while (0)

void rsc_oracle_set_fail_handler(RscOracleFailFunc *fn)
{
    fail_handler = fn;
}

void rsc_oracle_set_verbose(bool on)
{
    verbose = on;
}

static void o_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void o_fail(const char *fmt, ...)
{
    char what[512];
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (current) {
        snprintf(msg, sizeof(msg),
                 "rsc-oracle: %s record %" PRIu64 " (input byte %zu): %s",
                 current->in_final ? "after the last" : "at",
                 current->op_index, current->op_offset, what);
    } else {
        snprintf(msg, sizeof(msg), "rsc-oracle: %s", what);
    }
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
    if (fail_handler) {
        fail_handler(msg);
    }
    abort();
}

static void o_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void o_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void *memdup(const void *p, size_t n)
{
    void *q = g_malloc(n);

    memcpy(q, p, n);
    return q;
}

static int32_t seq_diff(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b);
}

/* Pseudo-header sum of a keyed frame, addresses from its IP header */
static uint64_t o_pseudo(const uint8_t *f, const OPkt *p)
{
    const uint8_t *src = f + ETH_HLEN + (p->ipv6 ? 8 : 12);
    size_t alen = p->ipv6 ? 16 : 4;

    return rsc_csum_pseudo(p->ipv6 ? 6 : 4, src, src + alen, IP_PROTO_TCP,
                           p->end - p->l4);
}

static void o_parse_opts(const uint8_t *f, OPkt *p)
{
    uint32_t i = p->l4 + TCP_HLEN;

    p->opts_ok = true;
    while (i < p->data) {
        uint8_t kind = f[i];

        if (kind == 0) {
            break;
        }
        if (kind == 1) {
            i++;
            continue;
        }
        if (kind != 8 || p->ts || i + 10 > p->data || f[i + 1] != 10) {
            p->opts_ok = false;
            p->ts = 0;
            return;
        }
        p->ts = i + 2;
        p->tsval = ldl_be_p(f + i + 2);
        p->tsecr = ldl_be_p(f + i + 6);
        i += 10;
    }
}

/*
 * Parse @f the way include/net/rsc.h says the engine keys frames: an
 * untagged IPv4 or IPv6 datagram that fits in the frame, not a later
 * fragment, with a complete TCP header, IPv6 extension headers (hop by
 * hop, routing, destination options, first fragment; at most 8) walked.
 */
static void o_parse(const uint8_t *f, size_t len, OPkt *p)
{
    const uint8_t *ip = f + ETH_HLEN;
    uint32_t l4, ihl, thl;

    memset(p, 0, sizeof(*p));
    if (len < ETH_HLEN) {
        return;
    }
    switch (lduw_be_p(f + 12)) {
    case ETH_P_IPV4:
        if (len < ETH_HLEN + IPV4_HLEN || (ip[0] >> 4) != 4) {
            return;
        }
        ihl = (ip[0] & 0xf) * 4;
        p->end = ETH_HLEN + lduw_be_p(ip + 2);
        if (ihl < IPV4_HLEN || p->end < ETH_HLEN + ihl || p->end > len ||
            ip[9] != IP_PROTO_TCP || (lduw_be_p(ip + 6) & 0x1fff)) {
            return;
        }
        p->ext = ihl != IPV4_HLEN || (ip[6] & 0x20);
        p->ip_csum_ok = rsc_csum_fold(rsc_csum_add(0, ip, ihl)) == 0xffff;
        p->ttl = ip[8];
        memcpy(p->key.src, ip + 12, 4);
        memcpy(p->key.dst, ip + 16, 4);
        l4 = ETH_HLEN + ihl;
        break;
    case ETH_P_IPV6: {
        uint8_t nh;
        int i;

        if (len < ETH_HLEN + IPV6_HLEN || (ip[0] >> 4) != 6) {
            return;
        }
        p->end = ETH_HLEN + IPV6_HLEN + lduw_be_p(ip + 4);
        if (p->end > len) {
            return;
        }
        l4 = ETH_HLEN + IPV6_HLEN;
        nh = ip[6];
        for (i = 0; i < IPV6_MAX_EXT && nh != IP_PROTO_TCP; i++) {
            uint32_t hlen;

            if (l4 + 8 > p->end) {
                return;
            }
            if (nh == 0 || nh == 43 || nh == 60) {
                hlen = (f[l4 + 1] + 1) * 8;
            } else if (nh == 44) {
                if (lduw_be_p(f + l4 + 2) & 0xfff8) {
                    return;
                }
                hlen = 8;
            } else {
                return;
            }
            nh = f[l4];
            l4 += hlen;
        }
        if (nh != IP_PROTO_TCP) {
            return;
        }
        p->ext = l4 != ETH_HLEN + IPV6_HLEN;
        p->ip_csum_ok = true;
        p->ipv6 = true;
        p->key.ipv6 = 1;
        p->ttl = ip[7];
        memcpy(p->key.src, ip + 8, 16);
        memcpy(p->key.dst, ip + 24, 16);
        break;
    }
    default:
        return;
    }
    if (l4 + TCP_HLEN > p->end) {
        return;
    }
    thl = (f[l4 + 12] >> 4) * 4;
    if (thl < TCP_HLEN || l4 + thl > p->end) {
        return;
    }
    p->keyed = true;
    p->l4 = l4;
    p->data = l4 + thl;
    p->key.sport = lduw_be_p(f + l4);
    p->key.dport = lduw_be_p(f + l4 + 2);
    p->seq = ldl_be_p(f + l4 + 4);
    p->ack = ldl_be_p(f + l4 + 8);
    p->flags = f[l4 + 13];
    p->win = lduw_be_p(f + l4 + 14);
    o_parse_opts(f, p);
}

/* The TCP checksum of a keyed frame; not part of o_parse(): slow */
static bool tcp_csum_ok(const uint8_t *f, const OPkt *p)
{
    return rsc_csum_fold(rsc_csum_add(o_pseudo(f, p), f + p->l4,
                                      p->end - p->l4)) == 0xffff;
}

static uint32_t payload_len(const OFrame *f)
{
    return f->p.end - f->p.data;
}

static const char *flow_str(const RscFlowKey *k, char *buf, size_t size)
{
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    int af = k->ipv6 ? AF_INET6 : AF_INET;

    inet_ntop(af, k->src, s, sizeof(s));
    inet_ntop(af, k->dst, d, sizeof(d));
    snprintf(buf, size, "%s%s%s:%u > %s%s%s:%u",
             k->ipv6 ? "[" : "", s, k->ipv6 ? "]" : "", k->sport,
             k->ipv6 ? "[" : "", d, k->ipv6 ? "]" : "", k->dport);
    return buf;
}

#define FLOW_STR(k) flow_str((k), (char[128]) { 0 }, 128)

static void flow_free(gpointer p)
{
    OFlow *fl = p;

    g_queue_clear(&fl->held);
    g_free(fl);
}

static void frame_free(OFrame *f)
{
    if (f) {
        g_free(f->data);
        g_free(f);
    }
}

static bool hdr_equal(const NetRscHdr *a, const NetRscHdr *b)
{
    return a->flags == b->flags && a->gso_type == b->gso_type &&
           a->hdr_len == b->hdr_len && a->gso_size == b->gso_size &&
           a->csum_start == b->csum_start &&
           a->csum_offset == b->csum_offset &&
           a->segments == b->segments && a->dup_acks == b->dup_acks;
}

/*
 * TCP payload length of a frame the backend gave a TCP GSO type, as
 * include/net/rsc.h defines it for the segment count: up to two VLAN tags
 * (0x8100, 0x88a8), IPv4 (not a later fragment) or IPv6 with extension
 * headers walked, the IP length clamped to the frame when it points past
 * it or not past the L3/L4 headers; 0 if no TCP header is found.
 */
static uint32_t gso_payload(const uint8_t *f, size_t len)
{
    size_t l3 = ETH_HLEN, l4, end, data;
    uint16_t type;
    int tags;

    if (len < ETH_HLEN) {
        return 0;
    }
    type = lduw_be_p(f + 12);
    for (tags = 0; tags < 2 && (type == 0x8100 || type == 0x88a8); tags++) {
        if (len < l3 + 4) {
            return 0;
        }
        type = lduw_be_p(f + l3 + 2);
        l3 += 4;
    }
    if (type == ETH_P_IPV4) {
        uint32_t ihl;

        if (len < l3 + IPV4_HLEN || (f[l3] >> 4) != 4 ||
            f[l3 + 9] != IP_PROTO_TCP || (lduw_be_p(f + l3 + 6) & 0x1fff)) {
            return 0;
        }
        ihl = (f[l3] & 0xf) * 4;
        if (ihl < IPV4_HLEN) {
            return 0;
        }
        l4 = l3 + ihl;
        end = l3 + lduw_be_p(f + l3 + 2);
    } else if (type == ETH_P_IPV6) {
        uint8_t nh;
        int i;

        if (len < l3 + IPV6_HLEN || (f[l3] >> 4) != 6) {
            return 0;
        }
        l4 = l3 + IPV6_HLEN;
        end = l4 + lduw_be_p(f + l3 + 4);
        if (end > len || end <= l4) {
            end = len;
        }
        nh = f[l3 + 6];
        for (i = 0; i < IPV6_MAX_EXT && nh != IP_PROTO_TCP; i++) {
            uint32_t hlen;

            if (l4 + 8 > end) {
                return 0;
            }
            if (nh == 0 || nh == 43 || nh == 60) {
                hlen = (f[l4 + 1] + 1) * 8;
            } else if (nh == 44 && !(lduw_be_p(f + l4 + 2) & 0xfff8)) {
                hlen = 8;
            } else {
                return 0;
            }
            nh = f[l4];
            l4 += hlen;
        }
        if (nh != IP_PROTO_TCP) {
            return 0;
        }
    } else {
        return 0;
    }
    if (end > len || end <= l4) {
        end = len;
    }
    if (l4 + TCP_HLEN > end) {
        return 0;
    }
    data = l4 + (f[l4 + 12] >> 4) * 4;
    if (data < l4 + TCP_HLEN || data > end) {
        return 0;
    }
    return end - data;
}

/* Was @f fed with a TCP GSO type (ECN bit or not)? */
static bool backend_gso(const OFrame *f)
{
    uint8_t type = f->hdr.gso_type & 0x7f;

    return f->has_hdr &&
           (type == NET_RSC_GSO_TCPV4 || type == NET_RSC_GSO_TCPV6);
}

/*
 * The header a frame must come out with when it leaves alone: as fed,
 * but in RSC_EXT mode a TCP GSO packet gets RSC_INFO and its segments
 */
static NetRscHdr frame_out_hdr(const Oracle *o, const OFrame *f)
{
    static const NetRscHdr zero;
    NetRscHdr h = f->has_hdr ? f->hdr : zero;

    if (!o->gso && backend_gso(f)) {
        uint32_t n = gso_payload(f->data, f->len);
        uint32_t segs = h.gso_size ? (n + h.gso_size - 1) / h.gso_size : 1;

        h.flags |= NET_RSC_F_RSC_INFO;
        h.segments = MIN(MAX(segs, 1), 65535);
        h.dup_acks = 0;
    }
    return h;
}

static bool frame_equal(const Oracle *o, const OFrame *f,
                        const NetRscHdr *hdr, const uint8_t *data, size_t len)
{
    NetRscHdr want = frame_out_hdr(o, f);

    return f->len == len && !memcmp(f->data, data, len) &&
           hdr_equal(&want, hdr);
}

/* Held queues, keeping the set of flows with held frames */

static void held_push(Oracle *o, OFrame *f)
{
    if (g_queue_is_empty(&f->flow->held)) {
        g_ptr_array_add(o->active, f->flow);
    }
    g_queue_push_tail(&f->flow->held, f);
}

static void held_remove(Oracle *o, OFrame *f)
{
    OFlow *fl = f->flow;

    if (!g_queue_remove(&fl->held, f)) {
        o_fail("internal: frame %" PRIu64 " not held", f->id);
    }
    if (g_queue_is_empty(&fl->held)) {
        g_ptr_array_remove_fast(o->active, fl);
        fl->cut = false;
        fl->migrated = false;
    }
}

/* A frame is out of the engine; free it unless it is being fed */
static void frame_gone(Oracle *o, OFrame *f, OState state)
{
    held_remove(o, f);
    f->state = state;
    if (f != o->inflight) {
        frame_free(f);
    }
}

static bool vouched(const OFrame *f)
{
    return f->has_hdr &&
           ((f->hdr.flags & NET_RSC_F_DATA_VALID) ||
            ((f->hdr.flags & NET_RSC_F_NEEDS_CSUM) &&
             f->hdr.csum_start == f->p.l4 && f->hdr.csum_offset == 16));
}

/*
 * What keeps frame @g out of any coalesced packet, whatever else it holds:
 * a GSO header, IP options or extensions, TCP flags other than ACK and
 * @flags_ok, options, checksums.  Returns NULL or why not.
 */
static const char *frame_problem(const OFrame *g, uint8_t flags_ok,
                                 char *why, size_t size)
{
    if (g->has_hdr && g->hdr.gso_type != NET_RSC_GSO_NONE) {
        snprintf(why, size, "frame %" PRIu64 " was fed with gso_type %u "
                 "but was merged", g->id, g->hdr.gso_type);
    } else if (g->p.ext) {
        snprintf(why, size, "frame %" PRIu64 " has IPv4 options, MF or "
                 "IPv6 extension headers but was merged", g->id);
    } else if ((g->p.flags & ~flags_ok) != TCP_ACK) {
        snprintf(why, size, "frame %" PRIu64 " has TCP flags 0x%02x but "
                 "was merged", g->id, g->p.flags);
    } else if (!g->p.opts_ok) {
        snprintf(why, size, "frame %" PRIu64 " has TCP options other than "
                 "one timestamp but was merged", g->id);
    } else if (!g->p.ip_csum_ok) {
        snprintf(why, size, "frame %" PRIu64 " has a bad IPv4 header "
                 "checksum but was merged", g->id);
    } else if (!vouched(g) && !tcp_csum_ok(g->data, &g->p)) {
        snprintf(why, size, "frame %" PRIu64 " has a bad TCP checksum, not "
                 "vouched for by its header, but was merged", g->id);
    } else {
        return NULL;
    }
    return why;
}

/*
 * May @g follow @prev (NULL for the first) inside a coalesced packet @p
 * (frame @pf) at payload offset @off?  Returns NULL or why not.
 */
static const char *member_problem(const OPkt *p, const uint8_t *pf,
                                  const OFrame *first, const OFrame *prev,
                                  const OFrame *g, uint32_t off,
                                  char *why, size_t size)
{
    uint32_t gl = payload_len(g);
    uint32_t n = p->end - p->data;

    if (frame_problem(g, TCP_PSH, why, size)) {
        return why;
    } else if (g->p.seq != p->seq + off) {
        snprintf(why, size, "frame %" PRIu64 " (seq %u, %u payload bytes) "
                 "does not continue the stream: packet seq %u + %u",
                 g->id, g->p.seq, gl, p->seq, off);
    } else if (off + gl > n) {
        snprintf(why, size, "held frames carry more payload than the "
                 "packet's %u bytes (frame %" PRIu64 " at offset %u, %u "
                 "bytes)", n, g->id, off, gl);
    } else if (gl && memcmp(pf + p->data + off, g->data + g->p.data, gl)) {
        snprintf(why, size, "payload bytes %u..%u of the packet differ "
                 "from frame %" PRIu64, off, off + gl, g->id);
    } else if (!prev) {
        if (!gl) {
            snprintf(why, size, "packet starts with frame %" PRIu64
                     ", which has no payload", g->id);
        } else {
            return NULL;
        }
    } else if (g->p.data != first->p.data || g->p.l4 != first->p.l4 ||
               g->p.ts != first->p.ts) {
        snprintf(why, size, "frame %" PRIu64 " has other header lengths "
                 "or timestamp offset than frame %" PRIu64 " but was merged",
                 g->id, first->id);
    } else if (memcmp(g->data, first->data, ETH_HLEN)) {
        snprintf(why, size, "frame %" PRIu64 " has another Ethernet header "
                 "than frame %" PRIu64 " but was merged", g->id, first->id);
    } else if (g->p.ipv6 ? memcmp(g->data + ETH_HLEN,
                                  first->data + ETH_HLEN, 4) != 0 :
               (g->data[ETH_HLEN + 1] != first->data[ETH_HLEN + 1] ||
                g->data[ETH_HLEN + 6] != first->data[ETH_HLEN + 6])) {
        snprintf(why, size, "frame %" PRIu64 " has another traffic class, "
                 "flow label, TOS or DF than frame %" PRIu64 " but was "
                 "merged", g->id, first->id);
    } else if (seq_diff(g->p.ack, prev->p.ack) < 0) {
        snprintf(why, size, "frame %" PRIu64 " has an older ACK (%u) than "
                 "frame %" PRIu64 " (%u) but was merged", g->id, g->p.ack,
                 prev->id, prev->p.ack);
    } else if (!gl && g->p.ack != prev->p.ack) {
        snprintf(why, size, "pure ACK frame %" PRIu64 " acknowledges new "
                 "data (%u, was %u) but was merged", g->id, g->p.ack,
                 prev->p.ack);
    } else if (g->p.ts && seq_diff(g->p.tsval, prev->p.tsval) < 0) {
        snprintf(why, size, "frame %" PRIu64 " has an older TSval than "
                 "frame %" PRIu64 " but was merged", g->id, prev->id);
    } else {
        return NULL;
    }
    return why;
}

/*
 * Check coalesced packet @pf (parsed @p, header @hdr) against the
 * frames @m[0..count) it must consist of.  Returns NULL or why not; sets
 * *wus to the window updates absorbed.  A duplicate ACK (the window of
 * the frame before it) is never absorbed (include/net/rsc.h).
 */
static const char *packet_problem(const OPkt *p, const uint8_t *pf,
                                  const NetRscHdr *hdr,
                                  OFrame **m, unsigned count,
                                  uint64_t *wus, char *why, size_t size)
{
    uint32_t n = p->end - p->data;
    uint32_t off = 0, nseg = 0, mss = 0;
    uint8_t ttl = 255;
    bool psh = false;
    const OFrame *first, *last;
    uint8_t *want;
    size_t i;

    *wus = 0;
    if (count < 2) {
        snprintf(why, size, "RSC_INFO set on a packet made of %u frame%s",
                 count, count == 1 ? "" : "s");
        return why;
    }
    first = m[0];
    last = m[count - 1];
    for (i = 0; i < count; i++) {
        const OFrame *g = m[i];
        uint32_t gl = payload_len(g);

        if (member_problem(p, pf, first, i ? m[i - 1] : NULL, g, off,
                           why, size)) {
            return why;
        }
        if (gl) {
            nseg++;
            mss = MAX(mss, gl);
        } else if (g->p.win == m[i - 1]->p.win) {
            snprintf(why, size, "duplicate ACK frame %" PRIu64 " (window "
                     "%u, as frame %" PRIu64 ") was merged", g->id, g->p.win,
                     m[i - 1]->id);
            return why;
        } else {
            (*wus)++;
        }
        off += gl;
        ttl = MIN(ttl, g->p.ttl);
        psh |= !!(g->p.flags & TCP_PSH);
    }
    if (off != n) {
        snprintf(why, size, "packet carries %u payload bytes, its frames "
                 "%u", n, off);
        return why;
    }
    if (hdr->segments != nseg || hdr->gso_size != mss) {
        snprintf(why, size, "segments %u, gso_size %u; the frames give %u, "
                 "%u", hdr->segments, hdr->gso_size, nseg, mss);
        return why;
    }
    if (p->data != first->p.data || p->ts != first->p.ts) {
        snprintf(why, size, "header length %u (timestamp at %u), first "
                 "frame %" PRIu64 ": %u (%u)", p->data, p->ts, first->id,
                 first->p.data, first->p.ts);
        return why;
    }

    /* Headers: the first frame's, with what include/net/rsc.h changes */
    want = memdup(first->data, p->data);
    if (p->ipv6) {
        memcpy(want + ETH_HLEN + 4, pf + ETH_HLEN + 4, 2);
        want[ETH_HLEN + 7] = ttl;
    } else {
        memcpy(want + ETH_HLEN + 2, pf + ETH_HLEN + 2, 2);
        memcpy(want + ETH_HLEN + 10, pf + ETH_HLEN + 10, 2);
        want[ETH_HLEN + 8] = ttl;
    }
    stl_be_p(want + p->l4 + 8, last->p.ack);
    want[p->l4 + 13] |= psh ? TCP_PSH : 0;
    stw_be_p(want + p->l4 + 14, last->p.win);
    memcpy(want + p->l4 + 16, pf + p->l4 + 16, 2);
    if (p->ts) {
        stl_be_p(want + p->ts, last->p.tsval);
        stl_be_p(want + p->ts + 4, last->p.tsecr);
    }
    for (i = 0; i < p->data; i++) {
        if (want[i] != pf[i]) {
            snprintf(why, size, "header byte %zu is 0x%02x, expected 0x%02x "
                     "(first frame %" PRIu64 ", last %" PRIu64 ")", i,
                     pf[i], want[i], first->id, last->id);
            g_free(want);
            return why;
        }
    }
    g_free(want);
    return NULL;
}

static OFlow *flow_lookup(Oracle *o, const RscFlowKey *k)
{
    return g_hash_table_lookup(o->flows, k);
}

/* A packet with RSC_INFO */
static void check_coalesced(Oracle *o, const NetRscHdr *hdr,
                            const uint8_t *pf, size_t len, const OPkt *p)
{
    char why0[256], why1[256];
    const char *r0, *r1 = NULL;
    uint64_t wus0, wus1 = 0;
    OFrame *x = NULL;
    OFlow *fl;
    GPtrArray *m;
    GList *l;
    uint32_t n, off = 0;
    bool maybe = false;
    size_t i;

    if (!p->keyed) {
        o_fail("RSC_INFO packet of %zu bytes is not a TCP segment", len);
    }
    n = p->end - p->data;
    if (p->ext) {
        o_fail("RSC_INFO packet has IPv4 options or extension headers");
    }
    if (hdr->flags != (NET_RSC_F_NEEDS_CSUM | NET_RSC_F_RSC_INFO)) {
        o_fail("RSC_INFO packet has flags 0x%x", hdr->flags);
    }
    if (hdr->dup_acks) {
        o_fail("RSC_INFO packet has dup_acks %u: duplicate ACKs are never "
               "absorbed", hdr->dup_acks);
    }
    if (hdr->gso_type != (p->ipv6 ? NET_RSC_GSO_TCPV6 : NET_RSC_GSO_TCPV4)) {
        o_fail("RSC_INFO IPv%d packet has gso_type %u", p->ipv6 ? 6 : 4,
               hdr->gso_type);
    }
    if (hdr->hdr_len != p->data) {
        o_fail("RSC_INFO packet has hdr_len %u, its headers are %u bytes",
               hdr->hdr_len, p->data);
    }
    if (p->end != len) {
        o_fail("RSC_INFO packet of %zu bytes has an IP%s length for %u",
               len, p->ipv6 ? "v6 payload" : "v4 total", p->end);
    }
    if (len - ETH_HLEN > NET_RSC_MAX_IP_LEN) {
        o_fail("RSC_INFO packet's IP datagram is %zu bytes", len - ETH_HLEN);
    }
    if (!p->ip_csum_ok) {
        o_fail("RSC_INFO packet has a bad IPv4 header checksum");
    }
    if (!tcp_csum_ok(pf, p)) {
        o_fail("RSC_INFO packet (seq %u, %u payload bytes) has a bad TCP "
               "checksum", p->seq, n);
    }
    if (hdr->segments < 1 || hdr->gso_size < 1 || hdr->gso_size > n) {
        o_fail("RSC_INFO packet with %u payload bytes has segments %u, "
               "gso_size %u", n, hdr->segments, hdr->gso_size);
    }
    fl = flow_lookup(o, &p->key);
    if (!fl || g_queue_is_empty(&fl->held)) {
        o_fail("RSC_INFO packet of flow %s (seq %u) but no frame of it is "
               "held", FLOW_STR(&p->key), p->seq);
    }

    /* Its frames: all held ones, and perhaps the one being fed */
    if (o->inflight && o->inflight->flow == fl &&
        o->inflight->state == F_HELD) {
        x = o->inflight;
    }
    m = g_ptr_array_new();
    for (l = fl->held.head; l; l = l->next) {
        OFrame *g = l->data;

        if (g != x) {
            g_ptr_array_add(m, g);
            off += payload_len(g);
        }
    }
    if (x && payload_len(x) && off < n) {
        g_ptr_array_add(m, x);
    } else if (x && !payload_len(x)) {
        maybe = true;
    }
    r0 = packet_problem(p, pf, hdr, (OFrame **)m->pdata, m->len,
                        &wus0, why0, sizeof(why0));
    if (maybe) {
        g_ptr_array_add(m, x);
        r1 = packet_problem(p, pf, hdr, (OFrame **)m->pdata, m->len,
                            &wus1, why1, sizeof(why1));
        g_ptr_array_remove_index(m, m->len - 1);
        if (r0 && r1) {
            o_fail("coalesced packet of flow %s (seq %u): %s",
                   FLOW_STR(&p->key), p->seq, r0);
        }
        o->maybe_req = r0 ? MAYBE_MUST : r1 ? MAYBE_MUST_NOT : MAYBE_FREE;
        if (x->dup_ack && o->maybe_req == MAYBE_MUST) {
            o_fail("coalesced packet of flow %s (seq %u) needs duplicate "
                   "ACK frame %" PRIu64 ": %s", FLOW_STR(&p->key), p->seq,
                   x->id, r0);
        }
        x->state = F_MAYBE;
    } else if (r0) {
        o_fail("coalesced packet of flow %s (seq %u): %s",
               FLOW_STR(&p->key), p->seq, r0);
    }
    O_LOG("  coalesced %s seq %u len %zu: %u frames%s, segments %u",
          FLOW_STR(&p->key), p->seq, len, m->len, maybe ? " (+1 maybe)" : "",
          hdr->segments);

    o->window_updates += wus0;
    /* neither engine counts a migrated packet as coalesced */
    if (hdr->segments > 1 && !fl->migrated) {
        o->rsc_events++;
        o->rsc_segs += hdr->segments;
        o->rsc_octets += n;
    }
    for (i = 0; i < m->len; i++) {
        frame_gone(o, g_ptr_array_index(m, i), F_ABSORBED);
    }
    g_ptr_array_free(m, true);
}

/*
 * GSO mode: may @g be a piece of a GSO packet?  The byte comparison with
 * the packet cut up checks the headers; this checks what a cut-up packet
 * cannot show.  Returns NULL or why not.
 */
static const char *gso_member_problem(const OFrame *g, char *why,
                                      size_t size)
{
    if (frame_problem(g, TCP_PSH | TCP_FIN, why, size)) {
        return why;
    }
    if (!payload_len(g)) {
        snprintf(why, size, "frame %" PRIu64 " has no payload but was "
                 "merged", g->id);
        return why;
    }
    return NULL;
}

/*
 * A GSO packet (GSO mode): cut as the guest's segmentation cuts it, it
 * must give back its flow's held frames, byte for byte but for the TCP
 * checksum of frames whose header vouched for a partial one
 */
static void check_gso(Oracle *o, const NetRscHdr *hdr, const uint8_t *pf,
                      size_t len, const OPkt *p)
{
    g_autoptr(GPtrArray) pieces = NULL;
    g_autoptr(GPtrArray) m = g_ptr_array_new();
    char why[256];
    OFrame *x = NULL;
    OFlow *fl;
    GList *l;
    uint32_t n, off = 0;
    uint64_t partial;
    size_t i;

    if (!p->keyed || p->ext) {
        o_fail("GSO packet of %zu bytes is not a plain TCP segment", len);
    }
    n = p->end - p->data;
    partial = rsc_csum_pseudo(p->ipv6 ? 6 : 4,
                              pf + ETH_HLEN + (p->ipv6 ? 8 : 12),
                              pf + ETH_HLEN + (p->ipv6 ? 24 : 16),
                              IP_PROTO_TCP, p->end - p->l4);
    if (hdr->flags != NET_RSC_F_NEEDS_CSUM ||
        hdr->gso_type != (p->ipv6 ? NET_RSC_GSO_TCPV6 : NET_RSC_GSO_TCPV4) ||
        hdr->hdr_len != p->data || hdr->csum_start != p->l4 ||
        hdr->csum_offset != 16 || hdr->segments || hdr->dup_acks) {
        o_fail("GSO packet of flow %s has header flags 0x%x gso %u/%u "
               "hdr_len %u csum %u/%u rsc %u/%u", FLOW_STR(&p->key),
               hdr->flags, hdr->gso_type, hdr->gso_size, hdr->hdr_len,
               hdr->csum_start, hdr->csum_offset, hdr->segments,
               hdr->dup_acks);
    }
    if (p->end != len || len - ETH_HLEN > NET_RSC_MAX_IP_LEN ||
        !p->ip_csum_ok) {
        o_fail("GSO packet of %zu bytes: IP length for %u, or bad IPv4 "
               "header checksum", len, p->end);
    }
    if (lduw_be_p(pf + p->l4 + 16) != rsc_csum_fold(partial)) {
        o_fail("GSO packet's TCP checksum field is not the pseudo-header "
               "sum");
    }
    fl = flow_lookup(o, &p->key);
    if (!fl || g_queue_is_empty(&fl->held)) {
        o_fail("GSO packet of flow %s (seq %u) but no frame of it is held",
               FLOW_STR(&p->key), p->seq);
    }
    /* its frames: all held ones, and perhaps the data frame being fed */
    if (o->inflight && o->inflight->flow == fl &&
        o->inflight->state == F_HELD) {
        x = o->inflight;
    }
    for (l = fl->held.head; l; l = l->next) {
        if (l->data != x) {
            g_ptr_array_add(m, l->data);
            off += payload_len(l->data);
        }
    }
    if (x && payload_len(x) && off < n) {
        g_ptr_array_add(m, x);
    }
    pieces = rsc_frame_gso_split(pf, len, hdr->gso_size);
    if (m->len < 2 || pieces->len != m->len) {
        o_fail("GSO packet of flow %s (seq %u, %u payload bytes, gso_size "
               "%u) cuts into %u segments, %u frames are held",
               FLOW_STR(&p->key), p->seq, n, hdr->gso_size, pieces->len,
               m->len);
    }
    for (i = 0; i < m->len; i++) {
        OFrame *g = g_ptr_array_index(m, i);
        GByteArray *piece = g_ptr_array_index(pieces, i);
        size_t csum = g->p.l4 + 16;

        if (gso_member_problem(g, why, sizeof(why))) {
            o_fail("GSO packet of flow %s (seq %u): %s", FLOW_STR(&p->key),
                   p->seq, why);
        }
        if (piece->len != g->p.end ||
            memcmp(piece->data, g->data, csum) ||
            (!vouched(g) && memcmp(piece->data + csum, g->data + csum, 2)) ||
            memcmp(piece->data + csum + 2, g->data + csum + 2,
                   g->p.end - csum - 2)) {
            o_fail("GSO packet of flow %s (seq %u, gso_size %u): segment "
                   "%zu is not frame %" PRIu64 " as fed", FLOW_STR(&p->key),
                   p->seq, hdr->gso_size, i, g->id);
        }
    }
    O_LOG("  GSO %s seq %u len %zu: %u frames", FLOW_STR(&p->key), p->seq,
          len, m->len);
    if (!fl->migrated) {
        o->rsc_events++;
        o->rsc_segs += m->len;
        o->rsc_octets += n;
    }
    for (i = 0; i < m->len; i++) {
        frame_gone(o, g_ptr_array_index(m, i), F_ABSORBED);
    }
}

/* A packet without RSC_INFO: one fed frame, unchanged */
static void check_single(Oracle *o, const NetRscHdr *hdr,
                         const uint8_t *pf, size_t len, const OPkt *p)
{
    OFrame *x = o->inflight;
    OFrame *g;
    OFlow *fl;

    if (!p->keyed) {
        if (!x || x->flow || x->state != F_FIFO) {
            o_fail("non-TCP packet of %zu bytes delivered, but no such "
                   "frame is being fed", len);
        }
        if (!frame_equal(o, x, hdr, pf, len)) {
            o_fail("non-TCP packet of %zu bytes differs from frame %" PRIu64
                   " (%zu bytes) being fed, or has another header", len,
                   x->id, x->len);
        }
        x->state = F_DONE;
        O_LOG("  bypass frame %" PRIu64 " len %zu", x->id, len);
        return;
    }
    fl = flow_lookup(o, &p->key);
    if (!fl || g_queue_is_empty(&fl->held)) {
        o_fail("packet of flow %s (seq %u, %zu bytes) delivered but no "
               "frame of that flow is held", FLOW_STR(&p->key), p->seq, len);
    }
    g = g_queue_peek_head(&fl->held);
    if (!frame_equal(o, g, hdr, pf, len)) {
        NetRscHdr want = frame_out_hdr(o, g);
        size_t i = 0;

        while (i < MIN(len, g->len) && pf[i] == g->data[i]) {
            i++;
        }
        o_fail("packet without RSC_INFO of flow %s (seq %u, %zu bytes) is "
               "not its next held frame %" PRIu64 " (seq %u, %zu bytes) as "
               "fed: first differing byte %zu; header flags 0x%x gso %u/%u "
               "hdr_len %u csum %u/%u, fed 0x%x gso %u/%u hdr_len %u "
               "csum %u/%u", FLOW_STR(&p->key), p->seq, len, g->id, g->p.seq,
               g->len, i, hdr->flags, hdr->gso_type, hdr->gso_size,
               hdr->hdr_len, hdr->csum_start, hdr->csum_offset, want.flags,
               want.gso_type, want.gso_size, want.hdr_len, want.csum_start,
               want.csum_offset);
    }
    if (g->state == F_MAYBE && o->maybe_req == MAYBE_MUST) {
        o_fail("frame %" PRIu64 " is delivered alone, but the coalesced "
               "packet before it says it absorbed it", g->id);
    }
    O_LOG("  single frame %" PRIu64 " %s seq %u len %zu", g->id,
          FLOW_STR(&p->key), p->seq, len);
    frame_gone(o, g, F_DONE);
    g = g_queue_peek_head(&fl->held);
    if (g && (g != x || fl->held.length > 1)) {
        o_fail("single frame of flow %s delivered while %u other frames "
               "of it, from frame %" PRIu64 " (seq %u), are still held",
               FLOW_STR(&p->key), fl->held.length - (x && x->flow == fl),
               g->id, g->p.seq);
    }
}

/*
 * GSO mode: a GSO packet held while its IP version was switched off goes
 * out as the segments it was made of (include/net/rsc.h): each is its
 * flow's next held frame as fed, without padding, with an all-zero header
 * and a complete, valid TCP checksum.  Once one part is out, the rest of
 * the packet may follow as parts whatever the IP version's state (it is
 * one packet again, but a single segment of it is a plain frame).  True
 * if @pf is such a part.
 */
static bool gso_part(Oracle *o, const NetRscHdr *hdr, const uint8_t *pf,
                     size_t len, const OPkt *p)
{
    static const NetRscHdr zero;
    RscFrameInfo info;
    char why[256];
    OFlow *fl;
    OFrame *g;
    size_t csum;

    if (!p->keyed || !hdr_equal(hdr, &zero)) {
        return false;
    }
    fl = flow_lookup(o, &p->key);
    if (!fl || g_queue_is_empty(&fl->held) ||
        (!fl->cut && (p->ipv6 ? o->ipv6_on : o->ipv4_on))) {
        return false;
    }
    g = g_queue_peek_head(&fl->held);
    csum = g->p.l4 + 16;
    if (g == o->inflight || len != g->p.end || len < csum + 2 ||
        memcmp(pf, g->data, csum) ||
        memcmp(pf + csum + 2, g->data + csum + 2, len - csum - 2)) {
        return false;
    }
    if (!rsc_frame_parse(pf, len, &info) || !info.ip_csum_ok ||
        !info.tcp_csum_ok) {
        o_fail("part of a cut GSO packet of flow %s (seq %u, frame %"
               PRIu64 ") has a bad checksum", FLOW_STR(&p->key), p->seq,
               g->id);
    }
    if (gso_member_problem(g, why, sizeof(why))) {
        o_fail("part of a cut GSO packet of flow %s (seq %u): %s",
               FLOW_STR(&p->key), p->seq, why);
    }
    O_LOG("  part frame %" PRIu64 " %s seq %u len %zu", g->id,
          FLOW_STR(&p->key), p->seq, len);
    fl->cut = true;
    frame_gone(o, g, F_ABSORBED);
    return true;
}

/*
 * GSO mode: a packet without a GSO type, of no flow, or equal to its
 * flow's next held frame as fed is that frame alone; the rest must be
 * coalesced GSO packets
 */
static bool gso_single(Oracle *o, const NetRscHdr *hdr, const uint8_t *pf,
                       size_t len, const OPkt *p)
{
    OFlow *fl;

    if (hdr->gso_type == NET_RSC_GSO_NONE || !p->keyed) {
        return true;
    }
    fl = flow_lookup(o, &p->key);
    return fl && !g_queue_is_empty(&fl->held) &&
           frame_equal(o, g_queue_peek_head(&fl->held), hdr, pf, len);
}

/*
 * RSC_EXT mode: a packet with RSC_INFO is coalesced, or it is the one
 * frame it must be now (its flow's next held frame, or the unkeyed frame
 * being fed) and that frame was fed with a TCP GSO type
 */
static bool rsc_info_single(Oracle *o, const NetRscHdr *hdr,
                            const uint8_t *pf, size_t len, const OPkt *p)
{
    const OFrame *g = NULL;

    if (!p->keyed) {
        g = o->inflight;
    } else {
        OFlow *fl = flow_lookup(o, &p->key);

        if (fl && !g_queue_is_empty(&fl->held)) {
            g = g_queue_peek_head(&fl->held);
        }
    }
    return g && backend_gso(g) && frame_equal(o, g, hdr, pf, len);
}

static void check_memory(Oracle *o)
{
    size_t mem = net_rsc_memory(o->e);
    size_t bound = net_rsc_memory_bound(o->e);

    if (mem > bound) {
        o_fail("net_rsc_memory() %zu > net_rsc_memory_bound() %zu",
               mem, bound);
    }
}

static bool deliver_cb(void *opaque, const NetRscHdr *hdr,
                       const uint8_t *frame, size_t len)
{
    Oracle *o = opaque;
    OPkt p;

    if (!hdr || (!frame && len)) {
        o_fail("delivery with NULL header or frame");
    }
    if (o->refuse_left) {
        o->refuse_left--;
        o->refusals++;
        O_LOG("  refused a packet of %zu bytes", len);
        return false;
    }
    o->accepted++;
    o_parse(frame, len, &p);
    if (o->gso) {
        if (gso_part(o, hdr, frame, len, &p)) {
            /* counted as no coalesced packet */
        } else if (gso_single(o, hdr, frame, len, &p)) {
            check_single(o, hdr, frame, len, &p);
        } else if (hdr->gso_type == NET_RSC_GSO_TCPV4 ? !o->ipv4_on :
                   hdr->gso_type == NET_RSC_GSO_TCPV6 && !o->ipv6_on) {
            o_fail("GSO packet of %zu bytes (gso_type %u) delivered after "
                   "its IP version was switched off", len, hdr->gso_type);
        } else {
            check_gso(o, hdr, frame, len, &p);
        }
    } else if (hdr->flags & NET_RSC_F_RSC_INFO &&
               !rsc_info_single(o, hdr, frame, len, &p)) {
        check_coalesced(o, hdr, frame, len, &p);
    } else {
        check_single(o, hdr, frame, len, &p);
    }
    check_memory(o);
    return true;
}

/*
 * RSC_EXT: is pure ACK @x, about to be fed to an engine that takes frames,
 * a duplicate ACK of its flow's open unit (its held frames)?  It must pass
 * what a window update passes to join, and have the unit's ACK number
 * and window (those of its last frame).
 */
static bool dup_ack_of_unit(Oracle *o, const OFrame *x)
{
    OFlow *fl = x->flow;
    const OFrame *first, *last;
    char why[256];
    uint32_t total = 0;
    OPkt unit;
    GList *l;

    if (o->gso || !fl || payload_len(x) || g_queue_is_empty(&fl->held) ||
        fl->migrated || x->len > NET_RSC_BUF_MAX ||
        !(x->p.ipv6 ? o->ipv6_on : o->ipv4_on) ||
        (x->data[x->p.l4 + 12] & 0x0f)) {
        return false;
    }
    first = g_queue_peek_head(&fl->held);
    last = g_queue_peek_tail(&fl->held);
    for (l = fl->held.head; l; l = l->next) {
        total += payload_len(l->data);
    }
    /* the unit as a packet: the first frame's headers, all the payload */
    unit = first->p;
    unit.end = unit.data + total;
    if (member_problem(&unit, NULL, first, last, x, total, why,
                       sizeof(why))) {
        return false;
    }
    return x->p.ack == last->p.ack && x->p.win == last->p.win;
}

/* The ECN field (ECT, CE) of keyed frame @f */
static uint8_t frame_ecn(const OFrame *f)
{
    const uint8_t *ip = f->data + ETH_HLEN;

    return f->p.ipv6 ? (ip[1] >> 4) & 3 : ip[1] & 3;
}

/*
 * RSC_EXT: is data segment @x, about to be fed to an engine that takes
 * frames, one that nothing keeps out of a unit (frame_problem()) but
 * whose ECN field differs from its flow's open unit (its held frames)?
 * It must close the unit, count as an abort and start the next unit
 * (include/net/rsc.h, ECN); in GSO mode it goes out alone.
 */
static bool ecn_new_unit(Oracle *o, const OFrame *x)
{
    OFlow *fl = x->flow;
    char why[256];

    if (o->gso || !fl || !payload_len(x) || g_queue_is_empty(&fl->held) ||
        fl->migrated || x->len > NET_RSC_BUF_MAX ||
        !(x->p.ipv6 ? o->ipv6_on : o->ipv4_on) ||
        (x->data[x->p.l4 + 12] & 0x0f) ||
        frame_ecn(x) == frame_ecn(g_queue_peek_head(&fl->held))) {
        return false;
    }
    return !frame_problem(x, TCP_PSH, why, sizeof(why));
}

/* Feed one frame; true if the engine took it (then @f may be freed) */
static bool feed(Oracle *o, OFrame *f)
{
    bool fresh = !net_rsc_stalled(o->e);
    NetRscStatus st;

    /* a frame refused after a decision is fed again as decided then */
    if (fresh && !f->decided) {
        f->dup_ack = dup_ack_of_unit(o, f);
        f->ecn_new = ecn_new_unit(o, f);
        /* counted when the unit closes, taken or not */
        o->ecn_aborts += f->ecn_new;
    }
    if (!(f->p.ipv6 ? o->ipv6_on : o->ipv4_on)) {
        /* its IP version was switched off meanwhile: it bypasses */
        f->dup_ack = false;
        f->ecn_new = false;
    }
    if (f->flow) {
        held_push(o, f);
        f->state = F_HELD;
    }
    f->taken_ns = o->now;
    o->inflight = f;
    o->maybe_req = MAYBE_FREE;
    st = net_rsc_receive(o->e, f->has_hdr ? &f->hdr : NULL, f->data, f->len,
                         o->now);
    o->inflight = NULL;

    if (st == NET_RSC_STALLED) {
        O_LOG("  frame %" PRIu64 " stalled", f->id);
        if (!net_rsc_stalled(o->e)) {
            o_fail("receive returned STALLED, net_rsc_stalled() is false");
        }
        if (f->state == F_DONE || f->state == F_ABSORBED) {
            o_fail("frame %" PRIu64 " was delivered, but receive returned "
                   "STALLED: it will be fed again", f->id);
        }
        if (f->state == F_MAYBE && o->maybe_req == MAYBE_MUST) {
            o_fail("coalesced packet absorbed frame %" PRIu64 ", but "
                   "receive returned STALLED: it will be fed again", f->id);
        }
        if (f->flow) {
            held_remove(o, f);
        }
        f->state = F_FIFO;
        f->decided |= fresh;
        return false;
    }
    if (st != NET_RSC_TAKEN) {
        o_fail("receive returned %d", st);
    }
    o->taken++;
    O_LOG("  frame %" PRIu64 " taken%s", f->id,
          f->dup_ack ? " (a duplicate ACK)" : "");
    if (!f->flow && f->state != F_DONE) {
        o_fail("non-TCP frame %" PRIu64 " (%zu bytes) taken but not "
               "delivered at once", f->id, f->len);
    }
    if (f->dup_ack) {
        if (f->state != F_DONE) {
            o_fail("duplicate ACK frame %" PRIu64 " was taken but not "
                   "delivered alone", f->id);
        }
        o->dup_acks++;
    }
    if (f->ecn_new && (f->state != F_HELD || f->flow->held.length != 1)) {
        o_fail("data frame %" PRIu64 " with another ECN field than its "
               "flow's unit was taken but %s: it must close the unit and "
               "start the next", f->id,
               f->state == F_HELD ? "joined the unit" :
               f->state == F_DONE ? "went out alone" : "was absorbed");
    }
    if (f->state == F_MAYBE) {
        if (o->maybe_req == MAYBE_MUST_NOT) {
            o_fail("pure ACK frame %" PRIu64 " was taken and not delivered, "
                   "but the coalesced packet it would join does not "
                   "reflect it (lost)", f->id);
        }
        if (f->dup_ack) {
            o_fail("duplicate ACK frame %" PRIu64 " was absorbed", f->id);
        }
        o->window_updates++;
        held_remove(o, f);
        f->state = F_ABSORBED;
    }
    if (f->state == F_DONE || f->state == F_ABSORBED) {
        frame_free(f);
    }
    return true;
}

/* Feed the net queue in order until the engine stalls */
static void pump(Oracle *o)
{
    OFrame *f;

    while ((f = g_queue_pop_head(&o->fifo)) != NULL) {
        if (!feed(o, f)) {
            g_queue_push_head(&o->fifo, f);
            o->blocked = true;
            return;
        }
    }
    o->blocked = false;
}

/* Input reader: reads past the end give zeros */
typedef struct OReader {
    const uint8_t *data;
    size_t size;
    size_t pos;
} OReader;

static uint8_t get8(OReader *r)
{
    return r->pos < r->size ? r->data[r->pos++] : 0;
}

static uint16_t get16(OReader *r)
{
    uint16_t hi = get8(r);

    return (hi << 8) | get8(r);
}

static void fix_lengths(uint8_t *f, size_t len)
{
    if (len < ETH_HLEN) {
        return;
    }
    if (lduw_be_p(f + 12) == ETH_P_IPV4 && len >= ETH_HLEN + IPV4_HLEN) {
        stw_be_p(f + ETH_HLEN + 2, MIN(len - ETH_HLEN, 0xffff));
    } else if (lduw_be_p(f + 12) == ETH_P_IPV6 &&
               len >= ETH_HLEN + IPV6_HLEN) {
        stw_be_p(f + ETH_HLEN + 4, MIN(len - ETH_HLEN - IPV6_HLEN, 0xffff));
    }
}

static void fix_checksums(uint8_t *f, size_t len, bool partial)
{
    OPkt p;

    if (len >= ETH_HLEN + IPV4_HLEN && lduw_be_p(f + 12) == ETH_P_IPV4) {
        uint32_t ihl = (f[ETH_HLEN] & 0xf) * 4;

        if (ihl >= IPV4_HLEN && ETH_HLEN + ihl <= len) {
            stw_be_p(f + ETH_HLEN + 10, 0);
            stw_be_p(f + ETH_HLEN + 10,
                     ~rsc_csum_fold(rsc_csum_add(0, f + ETH_HLEN, ihl)));
        }
    }
    o_parse(f, len, &p);
    if (p.keyed) {
        stw_be_p(f + p.l4 + 16, 0);
        if (partial) {
            stw_be_p(f + p.l4 + 16, rsc_csum_fold(o_pseudo(f, &p)));
        } else {
            stw_be_p(f + p.l4 + 16,
                     ~rsc_csum_fold(rsc_csum_add(o_pseudo(f, &p), f + p.l4,
                                                 p.end - p.l4)));
        }
    }
}

/* How to build the frames of one FRAME record */
typedef struct OFrameArgs {
    uint8_t sel;
    unsigned kind;
    NetRscHdr hdr;
    bool has_hdr;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t patch_off;
    uint8_t patch_xor;
    const uint8_t *body;
    size_t body_len;
    uint32_t count;
    uint16_t pad;
    uint8_t pad_byte;
} OFrameArgs;

static void read_frame_args(OReader *r, OFrameArgs *a)
{
    memset(a, 0, sizeof(*a));
    a->sel = get8(r);
    a->kind = a->sel & RSC_FUZZ_SEL_HDR;
    a->has_hdr = a->kind != RSC_FUZZ_HDR_NULL &&
                 a->kind != RSC_FUZZ_HDR_NULL2;
    switch (a->kind) {
    case RSC_FUZZ_HDR_DATA_VALID:
        a->hdr.flags = NET_RSC_F_DATA_VALID;
        break;
    case RSC_FUZZ_HDR_PARTIAL:
        a->hdr.flags = NET_RSC_F_NEEDS_CSUM;
        break;
    case RSC_FUZZ_HDR_VALID_PARTIAL:
        a->hdr.flags = NET_RSC_F_NEEDS_CSUM | NET_RSC_F_DATA_VALID;
        break;
    case RSC_FUZZ_HDR_CSUM:
        a->hdr.flags = NET_RSC_F_NEEDS_CSUM;
        a->csum_start = get16(r);
        a->csum_offset = get16(r);
        break;
    case RSC_FUZZ_HDR_GSO:
        a->hdr.gso_type = get8(r);
        a->hdr.gso_size = get16(r);
        a->hdr.flags = get8(r) &
                       (NET_RSC_F_NEEDS_CSUM | NET_RSC_F_DATA_VALID);
        break;
    default:
        break;
    }
    a->count = 1;
    if (a->sel & RSC_FUZZ_SEL_REPEAT) {
        a->patch_off = get16(r);
        a->patch_xor = get8(r);
        if (a->sel & RSC_FUZZ_SEL_COUNT) {
            uint8_t n = get8(r);

            a->count += n == RSC_FUZZ_COUNT_MANY ? 65535 : n;
        }
    } else {
        a->body_len = get16(r);
        a->body_len = MIN(a->body_len, r->size - r->pos);
        a->body = r->data + r->pos;
        r->pos += a->body_len;
    }
    if (a->sel & RSC_FUZZ_SEL_PAD) {
        a->pad = get16(r);
        a->pad_byte = get8(r);
    }
}

/* Build frame number @i of a FRAME record, and queue it */
static OFrame *make_frame(Oracle *o, const OFrameArgs *a, uint32_t i)
{
    OFrame *f = g_new0(OFrame, 1);
    size_t len;
    uint8_t *buf;

    f->id = o->nframes++;
    f->has_hdr = a->has_hdr;
    f->hdr = a->hdr;
    if (a->sel & RSC_FUZZ_SEL_REPEAT) {
        OPkt lp;

        len = o->last_len;
        buf = g_malloc(len + 1);
        if (len) {
            memcpy(buf, o->last, len);
        }
        o_parse(buf, len, &lp);
        if (lp.keyed) {
            stl_be_p(buf + lp.l4 + 4, lp.seq + (lp.end - lp.data));
        }
        if (i == 0 && a->patch_off < len) {
            buf[a->patch_off] ^= a->patch_xor;
        }
    } else {
        len = a->body_len;
        buf = g_malloc(len + 1);
        memcpy(buf, a->body, len);
    }
    if (a->sel & RSC_FUZZ_SEL_FIXLEN) {
        fix_lengths(buf, len);
    }
    if (a->sel & RSC_FUZZ_SEL_FIXCSUM) {
        fix_checksums(buf, len, a->kind == RSC_FUZZ_HDR_PARTIAL ||
                      a->kind == RSC_FUZZ_HDR_VALID_PARTIAL);
    }
    if (o->last_cap < len) {
        o->last_cap = MAX(len, 2 * o->last_cap);
        o->last = g_realloc(o->last, o->last_cap);
    }
    if (len) {
        memcpy(o->last, buf, len);
    }
    o->last_len = len;
    if (a->pad) {
        buf = g_realloc(buf, len + a->pad + 1);
        memset(buf + len, a->pad_byte, a->pad);
        len += a->pad;
    }
    f->data = buf;
    f->len = len;
    o_parse(buf, len, &f->p);
    if (f->hdr.flags & NET_RSC_F_NEEDS_CSUM) {
        if (a->kind == RSC_FUZZ_HDR_CSUM) {
            f->hdr.csum_start = a->csum_start;
            f->hdr.csum_offset = a->csum_offset;
        } else if (a->kind != RSC_FUZZ_HDR_GSO) {
            f->hdr.csum_start = f->p.keyed ? f->p.l4 : ETH_HLEN + IPV4_HLEN;
            f->hdr.csum_offset = 16;
        }
    }
    if (f->hdr.gso_type) {
        f->hdr.hdr_len = f->p.keyed ? f->p.data : 0;
    }
    if (f->p.keyed) {
        f->flow = flow_lookup(o, &f->p.key);
        if (!f->flow) {
            f->flow = g_new0(OFlow, 1);
            f->flow->key = f->p.key;
            g_queue_init(&f->flow->held);
            g_hash_table_insert(o->flows, &f->flow->key, f->flow);
        }
    }
    f->state = F_FIFO;
    O_LOG("FRAME %" PRIu64 " len %zu sel 0x%02x%s%s seq %u payload %u "
          "flags 0x%02x", f->id, len, a->sel, f->p.keyed ? " " : " bypass",
          f->p.keyed ? FLOW_STR(&f->p.key) : "", f->p.seq,
          f->p.keyed ? payload_len(f) : 0, f->p.flags);
    return f;
}

static void op_frame(Oracle *o, OReader *r)
{
    OFrameArgs a;
    uint32_t i;

    read_frame_args(r, &a);
    for (i = 0; i < a.count; i++) {
        OFrame *f;

        if (o->fed_bytes > RSC_FUZZ_MAX_BYTES ||
            o->nframes >= RSC_FUZZ_MAX_FRAMES) {
            /* keep time and memory bounded: ignore the rest */
            O_LOG("input makes too many frames or bytes: end");
            r->pos = r->size;
            return;
        }
        f = make_frame(o, &a, i);
        o->fed_bytes += f->len;
        g_queue_push_tail(&o->fifo, f);
        if (!o->blocked) {
            pump(o);
        }
    }
}

/* Checks between operations */
static void check_state(Oracle *o)
{
    uint32_t pending = net_rsc_pending(o->e);
    int64_t want = INT64_MAX, got;
    size_t i;

    check_memory(o);
    if (o->active->len != pending) {
        o_fail("%u flows have frames held, net_rsc_pending() is %u",
               o->active->len, pending);
    }
    if (net_rsc_stalled(o->e)) {
        return;
    }
    /* not stalled: every held frame is in an open unit */
    for (i = 0; i < o->active->len; i++) {
        OFlow *fl = g_ptr_array_index(o->active, i);
        OFrame *g = g_queue_peek_head(&fl->held);
        int64_t d = g->taken_ns < INT64_MAX - 1 - o->interval ?
                    g->taken_ns + o->interval : INT64_MAX - 1;
        GList *l;

        /* a unit with PSH is due once the clock passes its arrival */
        for (l = fl->held.head; l; l = l->next) {
            g = l->data;
            if (g->p.flags & TCP_PSH) {
                d = MIN(d, g->taken_ns < INT64_MAX - 1 ?
                           g->taken_ns + 1 : INT64_MAX - 1);
                break;
            }
        }
        want = MIN(want, d);
    }
    got = net_rsc_deadline(o->e);
    if (got != want) {
        o_fail("net_rsc_deadline() is %" PRId64 ", want %" PRId64
               " (interval %" PRId64 " after a unit's first frame, or 1 "
               "after its first frame with PSH)", got, want, o->interval);
    }
}

/*
 * The engine forgot what it decided for frames it refused (purge, or
 * another engine): they are fed again as new
 */
static void forget_decisions(Oracle *o)
{
    GList *l;

    for (l = o->fifo.head; l; l = l->next) {
        OFrame *f = l->data;

        f->decided = false;
        f->dup_ack = false;
        f->ecn_new = false;
    }
}

/* A purged engine holds what a new one does (include/net/rsc.h, Memory) */
static void check_purged_memory(Oracle *o, NetRscEngine *e)
{
    if (net_rsc_memory(e) != o->empty_mem) {
        o_fail("net_rsc_memory() is %zu after net_rsc_purge(), %zu for a "
               "new engine", net_rsc_memory(e), o->empty_mem);
    }
}

static void op_purge(Oracle *o)
{
    size_t i;

    net_rsc_purge(o->e);
    check_purged_memory(o, o->e);
    forget_decisions(o);
    o->purged = true;
    for (i = 0; i < o->active->len; i++) {
        OFlow *fl = g_ptr_array_index(o->active, i);
        OFrame *g, *prev = NULL;

        while ((g = g_queue_pop_head(&fl->held)) != NULL) {
            if (prev && !payload_len(g)) {
                /* held, so absorbed: a window update */
                o->window_updates++;
            }
            frame_free(prev);
            prev = g;
        }
        frame_free(prev);
    }
    g_ptr_array_set_size(o->active, 0);
    if (net_rsc_pending(o->e) || net_rsc_stalled(o->e)) {
        o_fail("after net_rsc_purge(): pending %u, stalled %d",
               net_rsc_pending(o->e), net_rsc_stalled(o->e));
    }
}

typedef struct OHeld {
    NetRscHdr hdr;
    uint8_t *pkt;
    size_t len;
} OHeld;

static void held_copy(void *opaque, const NetRscHdr *hdr,
                      const uint8_t *pkt, size_t len)
{
    OHeld h = { .hdr = *hdr, .pkt = memdup(pkt, len), .len = len };

    g_array_append_val((GArray *)opaque, h);
}

/*
 * What virtio-net does to move held packets to another engine, on the
 * destination of a migration (a fresh engine) or when the guest stops
 * using a queue pair (queue 0's engine, used before): seal the engine,
 * list what it holds, drop it there, and give it in order to the other
 * engine, with the same configuration and protocols, which must take it
 * all and stall until the guest takes it.  Here the two engines take
 * turns, so that the second move goes to an engine whose slots were used.
 * Frames not taken stay in the net queue (QEMU's is not migrated, but the
 * engine is what is checked here).
 */
static void op_migrate(Oracle *o)
{
    GArray *held = g_array_new(false, false, sizeof(OHeld));
    NetRscEngine *from = o->e;
    uint32_t pending;
    size_t i;

    net_rsc_seal(o->e);
    pending = net_rsc_pending(o->e);
    if (net_rsc_deadline(o->e) != INT64_MAX) {
        o_fail("a unit is open after net_rsc_seal()");
    }
    net_rsc_foreach_held(o->e, held_copy, held);
    if (held->len != pending || pending != o->active->len) {
        o_fail("net_rsc_foreach_held() listed %u packets, pending %u, "
               "%u flows have frames held", held->len, pending,
               o->active->len);
    }
    net_rsc_purge(from);
    check_purged_memory(o, from);
    forget_decisions(o);
    if (!o->spare) {
        o->spare = net_rsc_new(&o->cfg);
    }
    o->e = o->spare;
    o->spare = from;
    if (net_rsc_pending(o->e) || net_rsc_stalled(o->e)) {
        o_fail("the spare engine has pending %u, stalled %d",
               net_rsc_pending(o->e), net_rsc_stalled(o->e));
    }
    net_rsc_set_protocols(o->e, o->ipv4_on, o->ipv6_on);
    for (i = 0; i < held->len; i++) {
        OHeld *h = &g_array_index(held, OHeld, i);

        O_LOG("  hold %zu bytes, flags 0x%x gso_type %u", h->len,
              h->hdr.flags, h->hdr.gso_type);
        if (!net_rsc_hold(o->e, &h->hdr, h->pkt, h->len)) {
            o_fail("net_rsc_hold() refused packet %zu of %u (%zu bytes)",
                   i, held->len, h->len);
        }
        g_free(h->pkt);
    }
    if (net_rsc_stalled(o->e) != (held->len > 0) ||
        net_rsc_pending(o->e) != held->len) {
        o_fail("after holding %u packets: stalled %d, pending %u",
               held->len, net_rsc_stalled(o->e), net_rsc_pending(o->e));
    }
    for (i = 0; i < o->active->len; i++) {
        OFlow *fl = g_ptr_array_index(o->active, i);

        fl->migrated = true;
    }
    g_array_free(held, true);
}

/* Counters of both engines MIGRATE uses */
#define STATS_FIELDS(X) \
    X(received) X(coalesced_pkts) X(coalesced_octets) X(coalesce_events) \
    X(aborts) X(bypassed) X(finalized) X(dup_acks) X(window_updates) \
    X(delivered) X(timer_drains) X(evictions) X(size_limit) X(refused)

static void stats_add(NetRscStats *sum, const NetRscStats *s)
{
#define STATS_ADD(f) sum->f += s->f;
    STATS_FIELDS(STATS_ADD)
#undef STATS_ADD
}

static void check_counters(Oracle *o)
{
    NetRscStats all = *net_rsc_stats(o->e);
    const NetRscStats *s = &all;

#define CHECK_EQ(field, want) \
    do { \
        if (s->field != (want)) { \
            o_fail("stats." #field " is %" PRIu64 ", expected %" PRIu64, \
                   (uint64_t)s->field, (uint64_t)(want)); \
        } \
    } while (0)

    if (o->spare) {
        stats_add(&all, net_rsc_stats(o->spare));
    }

    CHECK_EQ(received, o->taken);
    CHECK_EQ(delivered, o->accepted);
    CHECK_EQ(refused, o->refusals);
    CHECK_EQ(dup_acks, o->dup_acks);
    CHECK_EQ(window_updates, o->window_updates);
    if (s->aborts < o->ecn_aborts) {
        o_fail("stats.aborts is %" PRIu64 ", but %" PRIu64 " ECN changes "
               "closed a unit", s->aborts, o->ecn_aborts);
    }
    if (!o->purged) {
        CHECK_EQ(coalesce_events, o->rsc_events);
        CHECK_EQ(coalesced_pkts, o->rsc_segs);
        CHECK_EQ(coalesced_octets, o->rsc_octets);
    }
#undef CHECK_EQ
}

/* Let the guest take everything and drain the engine */
static void final_drain(Oracle *o)
{
    OFlow *fl;

    o->in_final = true;
    o->refuse_left = 0;
    if (!net_rsc_resume(o->e)) {
        o_fail("net_rsc_resume() is false with an accepting guest");
    }
    pump(o);
    if (o->blocked) {
        o_fail("frame stalled with an accepting guest");
    }
    net_rsc_flush(o->e);
    check_state(o);
    if (net_rsc_stalled(o->e) || net_rsc_pending(o->e)) {
        o_fail("after the final flush: stalled %d, pending %u",
               net_rsc_stalled(o->e), net_rsc_pending(o->e));
    }
    if (o->active->len) {
        OFrame *g;

        fl = g_ptr_array_index(o->active, 0);
        g = g_queue_peek_head(&fl->held);
        o_fail("frame %" PRIu64 " of flow %s (seq %u) was taken but never "
               "delivered", g->id, FLOW_STR(&fl->key), g->p.seq);
    }
    check_counters(o);
}

static void oracle_free(Oracle *o)
{
    OFrame *f;
    size_t i;

    for (i = 0; i < o->active->len; i++) {
        OFlow *fl = g_ptr_array_index(o->active, i);

        while ((f = g_queue_pop_head(&fl->held)) != NULL) {
            frame_free(f);
        }
    }
    while ((f = g_queue_pop_head(&o->fifo)) != NULL) {
        frame_free(f);
    }
    g_ptr_array_free(o->active, true);
    g_hash_table_destroy(o->flows);
    g_free(o->last);
    net_rsc_free(o->e);
    if (o->spare) {
        net_rsc_free(o->spare);
    }
}

void rsc_oracle_run(const uint8_t *data, size_t size)
{
    OReader r = { .data = data, .size = size };
    Oracle o = { 0 };
    NetRscConfig cfg = { 0 };
    uint8_t b0, b1, b2;

    if (size < RSC_FUZZ_CONFIG_LEN) {
        return;
    }
    b0 = get8(&r);
    b1 = get8(&r);
    b2 = get8(&r);
    o.max_flows = 1 + (b0 & RSC_FUZZ_CFG_FLOWS);
    o.gso = b0 & RSC_FUZZ_CFG_GSO;
    o.ipv4_on = true;
    o.ipv6_on = true;
    cfg.mode = o.gso ? NET_RSC_MODE_GSO : NET_RSC_MODE_RSC_EXT;
    o.interval = b1 == RSC_FUZZ_INTERVAL_MAX ? INT64_MAX :
                 (int64_t)b1 * RSC_FUZZ_INTERVAL_UNIT;
    o.now = b0 & RSC_FUZZ_CFG_BIG_CLOCK ? CLOCK_BIG : CLOCK_START;
    cfg.max_flows = o.max_flows;
    cfg.interval_ns = o.interval;
    cfg.hash_seed = b2 * 0x01010101u;
    cfg.deliver = deliver_cb;
    cfg.opaque = &o;
    o.cfg = cfg;
    o.e = net_rsc_new(&cfg);
    if (!o.e) {
        o_fail("net_rsc_new() refused max_flows %u interval %" PRId64,
               o.max_flows, o.interval);
    }
    o.empty_mem = net_rsc_memory(o.e);
    g_queue_init(&o.fifo);
    o.flows = g_hash_table_new_full(rsc_flow_key_hash, rsc_flow_key_equal,
                                    NULL, flow_free);
    o.active = g_ptr_array_new();
    current = &o;
    O_LOG("CONFIG max_flows %u interval %" PRId64 " seed 0x%02x clock %"
          PRId64 "%s", o.max_flows, o.interval, b2, o.now,
          o.gso ? " GSO mode" : "");

    while (r.pos < r.size) {
        uint8_t op;

        o.op_offset = r.pos;
        op = get8(&r);
        if (op > RSC_FUZZ_OP_MIGRATE) {
            op %= RSC_FUZZ_OP_PURGE;
        }
        switch (op) {
        case RSC_FUZZ_OP_FRAME:
            op_frame(&o, &r);
            break;
        case RSC_FUZZ_OP_REFUSE_NEXT:
            o.refuse_left = get8(&r);
            O_LOG("REFUSE_NEXT %u", o.refuse_left);
            break;
        case RSC_FUZZ_OP_RESUME: {
            bool ok = net_rsc_resume(o.e);

            O_LOG("RESUME -> %d", ok);
            if (ok == net_rsc_stalled(o.e)) {
                o_fail("net_rsc_resume() returned %d, net_rsc_stalled() %d",
                       ok, net_rsc_stalled(o.e));
            }
            if (ok) {
                pump(&o);
            }
            break;
        }
        case RSC_FUZZ_OP_POLL: {
            int64_t step = (int64_t)get16(&r) * RSC_FUZZ_POLL_UNIT;
            int64_t d;

            o.now = o.now < INT64_MAX - step ? o.now + step : INT64_MAX;
            O_LOG("POLL at %" PRId64, o.now);
            net_rsc_poll(o.e, o.now);
            d = net_rsc_deadline(o.e);
            if (d <= o.now && d != INT64_MAX) {
                o_fail("after net_rsc_poll(%" PRId64 ") a unit is still "
                       "open with deadline %" PRId64, o.now, d);
            }
            break;
        }
        case RSC_FUZZ_OP_FLUSH:
            O_LOG("FLUSH");
            net_rsc_flush(o.e);
            if (net_rsc_deadline(o.e) != INT64_MAX) {
                o_fail("a unit is open after net_rsc_flush()");
            }
            break;
        case RSC_FUZZ_OP_SET_PROTOCOLS: {
            uint8_t v = get8(&r);

            O_LOG("SET_PROTOCOLS 0x%x", v);
            /* the caller flushes before disabling */
            net_rsc_flush(o.e);
            net_rsc_set_protocols(o.e, v & RSC_FUZZ_PROTO_IPV4,
                                  v & RSC_FUZZ_PROTO_IPV6);
            o.ipv4_on = v & RSC_FUZZ_PROTO_IPV4;
            o.ipv6_on = v & RSC_FUZZ_PROTO_IPV6;
            break;
        }
        case RSC_FUZZ_OP_PURGE:
            O_LOG("PURGE");
            op_purge(&o);
            break;
        case RSC_FUZZ_OP_MIGRATE:
            O_LOG("MIGRATE");
            op_migrate(&o);
            break;
        }
        check_state(&o);
        o.op_index++;
    }
    final_drain(&o);
    oracle_free(&o);
    current = NULL;
}
