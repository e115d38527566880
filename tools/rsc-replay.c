/*
 * rsc-replay: feed a pcap trace through the RSC engine and check the result
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every frame of the trace is fed to the engine at its capture time, the
 * engine's timer firing at net_rsc_deadline() in between, and the engine is
 * flushed at the end.  The tool then checks, per TCP flow (one direction of
 * a connection), that the delivered payload bytes and sequence numbers are
 * those fed in, in the same order, and that every coalesced packet has the
 * headers and virtio-net header fields that include/net/rsc.h promises.
 * With --mode gso it also cuts every coalesced packet as a guest's TCP
 * segmentation would and checks that it gets back the fed frames, byte
 * for byte.
 */

#include "qemu/osdep.h"
#include <inttypes.h>
#include <arpa/inet.h>
#include <locale.h>
#include <sys/stat.h>
#include "qemu/bswap.h"
#include "net/rsc.h"
#include "pcap-io.h"
#include "rsc-frames.h"

#define ETH_HLEN            14
#define ETH_P_IPV4          0x0800
#define ETH_P_IPV6          0x86dd
#define IP_PROTO_TCP        6
#define IPV6_HLEN           40
#define TCP_HLEN            20

#define EXIT_CHECK_FAILED   1
#define EXIT_BAD_INPUT      2

/* Messages printed for check errors and differing streams; the rest count */
#define MAX_MESSAGES        20
/* Compact a flow's pending data once this much of it was delivered */
#define COMPACT_MIN         65536

/* What the tool sees of a TCP frame */
typedef struct TcpView {
    RscFlowKey key;
    uint32_t seq;
    uint32_t ip_hlen;
    uint32_t tcp_hlen;
    uint32_t ip_len;            /* IP datagram length, from the IP header */
    const uint8_t *ip;
    const uint8_t *payload;
    uint32_t payload_len;
} TcpView;

/* One fed TCP frame of a flow, at a position of the flow's byte stream */
typedef struct SegRec {
    uint64_t pos;
    uint32_t seq;
    uint32_t len;
    bool used;                  /* zero-length: matched a delivered packet */
    GByteArray *frame;          /* --mode gso: the frame, without padding */
} SegRec;

typedef struct Flow {
    RscFlowKey key;
    char *name;
    uint64_t segs_in;
    uint64_t pkts_out;
    uint64_t data_in;
    uint64_t data_out;
    uint64_t in_pos;            /* payload bytes fed */
    uint64_t out_pos;           /* payload bytes delivered */
    GByteArray *pend;           /* fed payload from stream offset pend_base */
    uint64_t pend_base;
    GArray *recs;               /* SegRec, fed frames from index rec_head */
    guint rec_head;
    bool differs;
} Flow;

typedef struct Replay {
    /* options */
    NetRscMode mode;
    int64_t interval_ns;
    int max_flows;
    int64_t refuse_every;
    bool quiet;

    NetRscEngine *e;
    GHashTable *flows;          /* RscFlowKey * -> Flow *, owned by flow_list */
    GPtrArray *flow_list;       /* in order of first appearance */
    int64_t now;
    PcapWriter *out_pcap;
    FILE *out_json;

    uint64_t frames_in;
    uint64_t clamped_in;        /* stamped before the frame before them */
    uint64_t non_tcp_in;
    uint64_t zero_in;
    uint64_t data_in;
    uint64_t pkts_out;
    uint64_t non_tcp_out;
    uint64_t zero_out;
    uint64_t data_out;
    uint64_t rsc_info_out;      /* or, with --mode gso, GSO packets */
    uint64_t coal_events;       /* RSC_INFO packets of >= 2 segments */
    uint64_t coal_segs;
    uint64_t coal_octets;
    uint64_t attempts;          /* calls of the delivery callback */
    uint64_t refusals;
    uint64_t errors;
    uint64_t messages;
} Replay;

/*
 * Parse an Ethernet + IPv4/IPv6 + TCP frame.  False for anything else,
 * including IPv4 fragments, IPv6 extension headers and lengths that do not
 * fit the frame.  The payload ends where the IP length says.
 */
static bool parse_tcp(const uint8_t *f, size_t len, TcpView *t)
{
    const uint8_t *ip = f + ETH_HLEN;
    const uint8_t *tcp;
    size_t avail;

    if (len < ETH_HLEN + 20 + TCP_HLEN) {
        return false;
    }
    avail = len - ETH_HLEN;
    memset(&t->key, 0, sizeof(t->key));
    switch (lduw_be_p(f + 12)) {
    case ETH_P_IPV4:
        t->ip_hlen = (ip[0] & 0xf) * 4;
        t->ip_len = lduw_be_p(ip + 2);
        if ((ip[0] >> 4) != 4 || t->ip_hlen < 20 || ip[9] != IP_PROTO_TCP ||
            t->ip_len < t->ip_hlen + TCP_HLEN || t->ip_len > avail ||
            (lduw_be_p(ip + 6) & 0x3fff)) {
            return false;
        }
        memcpy(t->key.src, ip + 12, 4);
        memcpy(t->key.dst, ip + 16, 4);
        break;
    case ETH_P_IPV6:
        t->ip_hlen = IPV6_HLEN;
        if (avail < IPV6_HLEN + TCP_HLEN) {
            return false;
        }
        t->ip_len = IPV6_HLEN + lduw_be_p(ip + 4);
        if ((ip[0] >> 4) != 6 || ip[6] != IP_PROTO_TCP ||
            t->ip_len < IPV6_HLEN + TCP_HLEN || t->ip_len > avail) {
            return false;
        }
        t->key.ipv6 = 1;
        memcpy(t->key.src, ip + 8, 16);
        memcpy(t->key.dst, ip + 24, 16);
        break;
    default:
        return false;
    }
    tcp = ip + t->ip_hlen;
    t->tcp_hlen = (tcp[12] >> 4) * 4;
    if (t->tcp_hlen < TCP_HLEN || t->ip_hlen + t->tcp_hlen > t->ip_len) {
        return false;
    }
    t->key.sport = lduw_be_p(tcp);
    t->key.dport = lduw_be_p(tcp + 2);
    t->seq = ldl_be_p(tcp + 4);
    t->ip = ip;
    t->payload = tcp + t->tcp_hlen;
    t->payload_len = t->ip_len - t->ip_hlen - t->tcp_hlen;
    return true;
}

/* Complete TCP checksum check, pseudo header included */
static bool tcp_csum_ok(const TcpView *t)
{
    const uint8_t *src = t->ip + (t->key.ipv6 ? 8 : 12);
    size_t alen = t->key.ipv6 ? 16 : 4;
    uint32_t l4_len = t->ip_len - t->ip_hlen;
    uint64_t sum;

    sum = rsc_csum_pseudo(t->key.ipv6 ? 6 : 4, src, src + alen,
                          IP_PROTO_TCP, l4_len);
    sum = rsc_csum_add(sum, t->ip + t->ip_hlen, l4_len);
    return rsc_csum_fold(sum) == 0xffff;
}

static void G_GNUC_PRINTF(2, 3) check_error(Replay *r, const char *fmt, ...)
{
    va_list ap;

    r->errors++;
    if (r->messages++ < MAX_MESSAGES) {
        va_start(ap, fmt);
        g_printerr("rsc-replay: error: ");
        vfprintf(stderr, fmt, ap);
        g_printerr("\n");
        va_end(ap);
    } else if (r->messages == MAX_MESSAGES + 1) {
        g_printerr("rsc-replay: further messages suppressed\n");
    }
}

static void G_GNUC_PRINTF(3, 4) flow_differs(Replay *r, Flow *f,
                                             const char *fmt, ...)
{
    va_list ap;

    if (f->differs) {
        return;
    }
    f->differs = true;
    if (r->messages++ < MAX_MESSAGES) {
        va_start(ap, fmt);
        g_printerr("rsc-replay: stream %s differs: ", f->name);
        vfprintf(stderr, fmt, ap);
        g_printerr("\n");
        va_end(ap);
    } else if (r->messages == MAX_MESSAGES + 1) {
        g_printerr("rsc-replay: further messages suppressed\n");
    }
}

static void G_GNUC_PRINTF(1, 2) G_GNUC_NORETURN fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_printerr("rsc-replay: ");
    vfprintf(stderr, fmt, ap);
    g_printerr("\n");
    va_end(ap);
    exit(EXIT_CHECK_FAILED);
}

static char *flow_name(const RscFlowKey *k)
{
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    int af = k->ipv6 ? AF_INET6 : AF_INET;

    inet_ntop(af, k->src, src, sizeof(src));
    inet_ntop(af, k->dst, dst, sizeof(dst));
    if (k->ipv6) {
        return g_strdup_printf("[%s]:%u>[%s]:%u", src, k->sport,
                               dst, k->dport);
    }
    return g_strdup_printf("%s:%u>%s:%u", src, k->sport, dst, k->dport);
}

static void seg_rec_clear(gpointer p)
{
    SegRec *rec = p;

    if (rec->frame) {
        g_byte_array_unref(rec->frame);
    }
}

static void flow_free(gpointer p)
{
    Flow *f = p;

    g_free(f->name);
    g_byte_array_unref(f->pend);
    g_array_unref(f->recs);
    g_free(f);
}

static Flow *flow_get(Replay *r, const RscFlowKey *k)
{
    Flow *f = g_hash_table_lookup(r->flows, k);

    if (!f) {
        f = g_new0(Flow, 1);
        f->key = *k;
        f->name = flow_name(k);
        f->pend = g_byte_array_new();
        f->recs = g_array_new(FALSE, FALSE, sizeof(SegRec));
        g_array_set_clear_func(f->recs, seg_rec_clear);
        g_hash_table_insert(r->flows, &f->key, f);
        g_ptr_array_add(r->flow_list, f);
    }
    return f;
}

/* Record a frame of the trace before it is fed */
static void replay_input(Replay *r, const PcapFrame *fr)
{
    SegRec rec = { 0 };
    TcpView t;
    Flow *f;

    r->frames_in++;
    if (!parse_tcp(fr->data, fr->len, &t)) {
        r->non_tcp_in++;
        return;
    }
    f = flow_get(r, &t.key);
    f->segs_in++;
    if (t.payload_len) {
        f->data_in++;
        r->data_in++;
    } else {
        r->zero_in++;
    }
    rec.pos = f->in_pos;
    rec.seq = t.seq;
    rec.len = t.payload_len;
    if (r->mode == NET_RSC_MODE_GSO) {
        rec.frame = g_byte_array_sized_new(ETH_HLEN + t.ip_len);
        g_byte_array_append(rec.frame, fr->data, ETH_HLEN + t.ip_len);
    }
    g_array_append_val(f->recs, rec);
    g_byte_array_append(f->pend, t.payload, t.payload_len);
    f->in_pos += t.payload_len;
}

/* Drop what was delivered from a flow's pending data and records */
static void flow_compact(Flow *f)
{
    uint64_t done = f->out_pos - f->pend_base;
    SegRec *recs = (SegRec *)f->recs->data;

    if (done >= COMPACT_MIN && done * 2 >= f->pend->len) {
        g_byte_array_remove_range(f->pend, 0, done);
        f->pend_base = f->out_pos;
    }
    while (f->rec_head < f->recs->len &&
           recs[f->rec_head].pos < f->out_pos) {
        f->rec_head++;
    }
    if (f->rec_head >= 1024 && f->rec_head * 2 >= f->recs->len) {
        g_array_remove_range(f->recs, 0, f->rec_head);
        f->rec_head = 0;
    }
}

/*
 * Check a delivered TCP packet against what its flow was fed: payload
 * bytes at the flow's output position, the sequence number of the fed
 * segment at that position, the sequence numbers of the fed segments it
 * covers, and for a coalesced packet the segment count and gso_size.
 */
/*
 * GSO packet @pkt, cut into @gso_size pieces as the guest would cut it,
 * must give back the fed frames of records @first onwards
 */
static void gso_resegments(Replay *r, Flow *f, const uint8_t *pkt,
                           size_t len, uint16_t gso_size, guint first,
                           uint64_t idx)
{
    g_autoptr(GPtrArray) segs = rsc_frame_gso_split(pkt, len, gso_size);
    SegRec *recs = (SegRec *)f->recs->data;
    guint i = first, j;

    for (j = 0; j < segs->len; j++, i++) {
        GByteArray *piece = g_ptr_array_index(segs, j);

        while (i < f->recs->len && !recs[i].len) {
            i++;
        }
        if (i == f->recs->len || piece->len != recs[i].frame->len ||
            memcmp(piece->data, recs[i].frame->data, piece->len)) {
            check_error(r, "packet %" PRIu64 " (%s): GSO segment %u of "
                        "gso_size %u is not the fed frame", idx, f->name,
                        j, gso_size);
            return;
        }
    }
}

/* Returns the number of fed data segments the packet covers */
static uint32_t flow_output(Replay *r, Flow *f, const TcpView *t,
                            const NetRscHdr *hdr, bool coalesced,
                            uint64_t idx)
{
    SegRec *recs = (SegRec *)f->recs->data;
    uint64_t p = f->out_pos;
    uint32_t l = t->payload_len;
    uint32_t nseg = 0, maxlen = 0;
    guint i;

    if (f->differs) {
        return 0;
    }
    if (l > f->in_pos - p) {
        flow_differs(r, f, "packet %" PRIu64 " carries %u payload bytes at "
                     "stream offset %" PRIu64 ", only %" PRIu64 " fed and "
                     "not yet delivered", idx, l, p, f->in_pos - p);
        return 0;
    }
    if (l && memcmp(f->pend->data + (p - f->pend_base), t->payload, l)) {
        flow_differs(r, f, "packet %" PRIu64 " (seq %u): payload differs "
                     "from the fed bytes at stream offset %" PRIu64,
                     idx, t->seq, p);
        return 0;
    }
    for (i = f->rec_head; i < f->recs->len && recs[i].pos == p; i++) {
        if (l ? recs[i].len != 0
              : !recs[i].len && !recs[i].used && recs[i].seq == t->seq) {
            break;
        }
    }
    if (i == f->recs->len || recs[i].pos != p || recs[i].seq != t->seq) {
        flow_differs(r, f, "packet %" PRIu64 " (seq %u, %u bytes) at stream "
                     "offset %" PRIu64 " matches no fed segment",
                     idx, t->seq, l, p);
        return 0;
    }
    if (!l) {
        recs[i].used = true;
    }
    if (coalesced && r->mode == NET_RSC_MODE_GSO) {
        gso_resegments(r, f, t->ip - ETH_HLEN, ETH_HLEN + t->ip_len,
                       hdr->gso_size, i, idx);
    }
    for (; l && i < f->recs->len && recs[i].pos < p + l; i++) {
        if (!recs[i].len) {
            continue;
        }
        if (recs[i].pos + recs[i].len > p + l) {
            flow_differs(r, f, "packet %" PRIu64 " (seq %u) ends inside "
                         "the fed segment of seq %u", idx, t->seq,
                         recs[i].seq);
            return 0;
        }
        if (recs[i].seq != (uint32_t)(t->seq + (recs[i].pos - p))) {
            flow_differs(r, f, "packet %" PRIu64 " (seq %u) covers the fed "
                         "segment of seq %u at byte %" PRIu64, idx, t->seq,
                         recs[i].seq, recs[i].pos - p);
            return 0;
        }
        nseg++;
        maxlen = MAX(maxlen, recs[i].len);
    }
    if (coalesced && r->mode == NET_RSC_MODE_RSC_EXT) {
        if (hdr->segments != nseg) {
            check_error(r, "packet %" PRIu64 " (%s seq %u): segments %u, "
                        "but it merged %u data segments", idx, f->name,
                        t->seq, hdr->segments, nseg);
        }
        if (hdr->gso_size != maxlen) {
            check_error(r, "packet %" PRIu64 " (%s seq %u): gso_size %u, "
                        "but its largest segment has %u bytes", idx,
                        f->name, t->seq, hdr->gso_size, maxlen);
        }
    } else if (!coalesced && l && nseg != 1) {
        check_error(r, "packet %" PRIu64 " (%s seq %u): merged %u data "
                    "segments, not marked as coalesced", idx, f->name,
                    t->seq, nseg);
    }
    f->out_pos += l;
    flow_compact(f);
    return nseg;
}

/* GSO mode: the TCP checksum field holds the pseudo-header sum */
static bool tcp_csum_partial(const TcpView *t)
{
    const uint8_t *src = t->ip + (t->key.ipv6 ? 8 : 12);
    size_t alen = t->key.ipv6 ? 16 : 4;
    uint64_t sum = rsc_csum_pseudo(t->key.ipv6 ? 6 : 4, src, src + alen,
                                   IP_PROTO_TCP, t->ip_len - t->ip_hlen);

    return lduw_be_p(t->ip + t->ip_hlen + 16) == rsc_csum_fold(sum);
}

/*
 * The header contract for a coalesced packet (flags has RSC_INFO, or with
 * --mode gso, gso_type is set)
 */
static void check_coalesced(Replay *r, const NetRscHdr *hdr,
                            const TcpView *t, size_t len, uint64_t idx)
{
    bool gso = r->mode == NET_RSC_MODE_GSO;
    const char *what = NULL;

    if (!gso && hdr->flags != (NET_RSC_F_NEEDS_CSUM | NET_RSC_F_RSC_INFO)) {
        what = "flags are not NEEDS_CSUM | RSC_INFO";
    } else if (gso && hdr->flags != NET_RSC_F_NEEDS_CSUM) {
        what = "flags are not NEEDS_CSUM";
    } else if (gso && (hdr->csum_start != ETH_HLEN + t->ip_hlen ||
                       hdr->csum_offset != 16)) {
        what = "csum_start/csum_offset do not point at the TCP checksum";
    } else if (gso && !tcp_csum_partial(t)) {
        what = "TCP checksum field is not the pseudo-header sum";
    } else if (hdr->gso_type != (t->key.ipv6 ? NET_RSC_GSO_TCPV6
                                               : NET_RSC_GSO_TCPV4)) {
        what = "gso_type does not match the IP version";
    } else if (t->ip_len != len - ETH_HLEN) {
        what = "IP length is not the frame length - 14";
    } else if (!t->key.ipv6 &&
               rsc_csum_fold(rsc_csum_add(0, t->ip, t->ip_hlen)) != 0xffff) {
        what = "IPv4 header checksum invalid";
    } else if (!gso && !tcp_csum_ok(t)) {
        what = "TCP checksum invalid";
    } else if (hdr->hdr_len != ETH_HLEN + t->ip_hlen + t->tcp_hlen) {
        what = "hdr_len is not Ethernet + IP + TCP header length";
    } else if (!gso && hdr->segments < 1) {
        what = "segments is 0";
    }
    if (what) {
        check_error(r, "packet %" PRIu64 " (coalesced, seq %u, %zu bytes): "
                    "%s", idx, t->seq, len, what);
    }
}

static void write_json(Replay *r, uint64_t idx, const NetRscHdr *hdr,
                       bool coalesced, size_t len, const TcpView *t,
                       Flow *f)
{
    fprintf(r->out_json, "{\"index\":%" PRIu64 ",\"time_ns\":%" PRId64
            ",\"len\":%zu,\"flags\":%u,\"gso_type\":%u,\"gso_size\":%u,"
            "\"hdr_len\":%u,\"csum_start\":%u,\"csum_offset\":%u,"
            "\"segments\":%u,\"dup_acks\":%u,\"coalesced\":%s",
            idx, r->now, len, hdr->flags, hdr->gso_type, hdr->gso_size,
            hdr->hdr_len, hdr->csum_start, hdr->csum_offset, hdr->segments,
            hdr->dup_acks, coalesced ? "true" : "false");
    if (f) {
        fprintf(r->out_json, ",\"flow\":\"%s\",\"seq\":%u,"
                "\"payload_len\":%u", f->name, t->seq, t->payload_len);
    }
    fputs("}\n", r->out_json);
}

static bool replay_deliver(void *opaque, const NetRscHdr *hdr,
                           const uint8_t *frame, size_t len)
{
    Replay *r = opaque;
    bool coalesced = r->mode == NET_RSC_MODE_GSO ?
                     hdr->gso_type != NET_RSC_GSO_NONE :
                     hdr->flags & NET_RSC_F_RSC_INFO;
    uint32_t nseg;
    uint64_t idx;
    Flow *f = NULL;
    TcpView t;

    r->attempts++;
    if (r->refuse_every && r->attempts % r->refuse_every == 0) {
        r->refusals++;
        return false;
    }
    idx = r->pkts_out++;
    if (r->out_pcap) {
        pcap_writer_write(r->out_pcap, r->now, frame, len);
    }

    if (coalesced) {
        r->rsc_info_out++;
        if (hdr->dup_acks) {
            /* rsc.h: duplicate ACKs are never absorbed */
            check_error(r, "packet %" PRIu64 ": dup_acks %u in the header",
                        idx, hdr->dup_acks);
        }
    } else if (hdr->flags || hdr->gso_type || hdr->hdr_len ||
               hdr->gso_size || hdr->csum_start || hdr->csum_offset ||
               hdr->segments || hdr->dup_acks) {
        check_error(r, "packet %" PRIu64 ": header not all zero, but "
                    "the frames were fed without one", idx);
    }

    if (!parse_tcp(frame, len, &t)) {
        r->non_tcp_out++;
        if (coalesced) {
            check_error(r, "packet %" PRIu64 " (%zu bytes): coalesced but "
                        "not a parsable TCP segment", idx, len);
        }
    } else {
        f = g_hash_table_lookup(r->flows, &t.key);
        if (!f) {
            f = flow_get(r, &t.key);
            flow_differs(r, f, "packet %" PRIu64 " of a flow never fed", idx);
        }
        f->pkts_out++;
        if (t.payload_len) {
            f->data_out++;
            r->data_out++;
        } else {
            r->zero_out++;
        }
        if (coalesced) {
            check_coalesced(r, hdr, &t, len, idx);
        }
        nseg = flow_output(r, f, &t, hdr, coalesced, idx);
        /* RSC_INFO says how many segments; GSO packets say nothing */
        if (coalesced && r->mode == NET_RSC_MODE_RSC_EXT) {
            nseg = hdr->segments;
        }
        if (coalesced && nseg >= 2) {
            r->coal_events++;
            r->coal_segs += nseg;
            r->coal_octets += t.payload_len;
        }
    }

    if (r->out_json) {
        write_json(r, idx, hdr, coalesced, len, &t, f);
    }
    return true;
}

/*
 * The guest made room: retry held packets until none is left, as
 * virtio-net does when it gets buffers again.
 */
static void replay_unstall(Replay *r)
{
    while (net_rsc_stalled(r->e)) {
        uint64_t before = r->attempts;

        if (net_rsc_resume(r->e)) {
            break;
        }
        if (r->attempts == before) {
            fatal("engine stuck: net_rsc_resume() delivered nothing and "
                  "returned false");
        }
    }
}

/* Advance the clock to @t, the timer firing at each deadline on the way */
static void replay_clock(Replay *r, int64_t t)
{
    int64_t d;

    while ((d = net_rsc_deadline(r->e)) <= t) {
        r->now = MAX(r->now, d);
        net_rsc_poll(r->e, d);
        replay_unstall(r);
        if (net_rsc_deadline(r->e) <= d) {
            check_error(r, "net_rsc_poll(%" PRId64 ") left a unit that "
                        "expires at %" PRId64, d, net_rsc_deadline(r->e));
            break;
        }
    }
    r->now = t;
    net_rsc_poll(r->e, t);
    replay_unstall(r);
}

/*
 * Feed a frame.  When the engine does not take it, hold it, let the guest
 * make room and feed it again, as QEMU's net queue does.
 */
static void replay_feed(Replay *r, const uint8_t *data, size_t len)
{
    unsigned tries = 0;

    while (net_rsc_receive(r->e, NULL, data, len, r->now) ==
           NET_RSC_STALLED) {
        if (!r->refusals) {
            fatal("net_rsc_receive() returned STALLED, but no delivery was "
                  "refused");
        }
        if (++tries > 1000) {
            fatal("engine stuck: frame %" PRIu64 " not taken after %u "
                  "tries", r->frames_in - 1, tries);
        }
        replay_unstall(r);
    }
    /* a taken frame may close a unit whose delivery was refused */
    replay_unstall(r);
}

static void check_eq(Replay *r, const char *what, uint64_t a, uint64_t b)
{
    if (a != b) {
        check_error(r, "%s: %" PRIu64 " != %" PRIu64, what, a, b);
    }
}

/*
 * Compare totals with the engine's counters, as the header defines them,
 * and make sure every flow got all its bytes.
 */
static void check_totals(Replay *r, const NetRscStats *s)
{
    uint64_t absorbed = r->zero_in - r->zero_out;
    guint i;

    check_eq(r, "stats.received != frames in", s->received, r->frames_in);
    check_eq(r, "stats.delivered != packets out", s->delivered,
             r->pkts_out);
    check_eq(r, "stats.refused != deliveries refused", s->refused,
             r->refusals);
    check_eq(r, "stats.coalesce_events != coalesced packets of >= 2 "
             "segments", s->coalesce_events, r->coal_events);
    check_eq(r, "stats.coalesced_pkts != their segments", s->coalesced_pkts,
             r->coal_segs);
    check_eq(r, "stats.coalesced_octets != their payload bytes",
             s->coalesced_octets, r->coal_octets);
    check_eq(r, "stats.window_updates != zero-length TCP frames absorbed",
             s->window_updates, absorbed);
    check_eq(r, "non-TCP packets out != non-TCP frames in", r->non_tcp_out,
             r->non_tcp_in);
    check_eq(r, "units pending after flush", net_rsc_pending(r->e), 0);

    for (i = 0; i < r->flow_list->len; i++) {
        Flow *f = g_ptr_array_index(r->flow_list, i);

        if (f->out_pos != f->in_pos) {
            flow_differs(r, f, "%" PRIu64 " payload bytes fed but never "
                         "delivered", f->in_pos - f->out_pos);
        }
    }
}

static void print_u64(const char *label, uint64_t v)
{
    printf("%-22s %12" PRIu64 "\n", label, v);
}

static void print_report(Replay *r, const NetRscStats *s)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
#define F(x) { #x, offsetof(NetRscStats, x) }
        F(received), F(coalesced_pkts), F(coalesced_octets),
        F(coalesce_events), F(aborts), F(bypassed), F(finalized),
        F(dup_acks), F(window_updates), F(delivered), F(timer_drains),
        F(evictions), F(size_limit), F(refused),
#undef F
    };
    int w = 4;
    guint i;

    print_u64("frames in", r->frames_in);
    print_u64("packets out", r->pkts_out);
    print_u64("non-TCP frames in", r->non_tcp_in);
    print_u64("data segments in", r->data_in);
    print_u64("data packets out", r->data_out);
    if (r->data_out) {
        printf("%-22s %12.2f\n", "coalescing ratio",
               (double)r->data_in / r->data_out);
    } else {
        printf("%-22s %12s\n", "coalescing ratio", "-");
    }
    print_u64(r->mode == NET_RSC_MODE_GSO ? "GSO packets" :
              "RSC_INFO packets", r->rsc_info_out);
    print_u64("check errors", r->errors);
    for (i = 0; i < G_N_ELEMENTS(fields); i++) {
        g_autofree char *label = g_strconcat("stats.", fields[i].name, NULL);

        print_u64(label, *(const uint64_t *)((const char *)s +
                                              fields[i].off));
    }

    for (i = 0; i < r->flow_list->len; i++) {
        Flow *f = g_ptr_array_index(r->flow_list, i);
        w = MAX(w, (int)strlen(f->name));
    }
    printf("%-*s %9s %9s %9s %9s %11s\n", w, "flow", "segs in",
           "pkts out", "data in", "data out", "bytes");
    for (i = 0; i < r->flow_list->len; i++) {
        Flow *f = g_ptr_array_index(r->flow_list, i);

        printf("%-*s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64
               " %11" PRIu64 "  stream %s\n", w, f->name, f->segs_in,
               f->pkts_out, f->data_in, f->data_out, f->in_pos,
               f->differs ? "DIFFERS" : "OK");
    }
}

static int usage_error(GOptionContext *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_printerr("rsc-replay: ");
    vfprintf(stderr, fmt, ap);
    g_printerr("\nTry 'rsc-replay --help'.\n");
    va_end(ap);
    g_option_context_free(ctx);
    return EXIT_BAD_INPUT;
}

/*
 * Parse the value @s of option @name, if given, as a decimal integer in
 * @min..@max: an optional sign and digits, no base prefix, no blanks.
 * Returns NULL, or what is wrong (to be freed).
 */
static char *parse_num(const char *name, const char *s, int64_t min,
                       int64_t max, int64_t *v)
{
    g_autoptr(GError) err = NULL;

    if (!s || g_ascii_string_to_signed(s, 10, min, max, v, &err)) {
        return NULL;
    }
    if (!g_error_matches(err, G_NUMBER_PARSER_ERROR,
                         G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS)) {
        return g_strdup_printf("%s '%s': not a decimal integer", name, s);
    }
    return g_strdup_printf("%s %s: out of range (%" PRId64 "..%" PRId64
                           ")", name, s, min, max);
}

/* Whether @a and @b ("-": standard input) name the same existing file */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    return !stat(a, &sa) &&
           !(strcmp(b, "-") ? stat(b, &sb) : fstat(STDIN_FILENO, &sb)) &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * An output left behind by a run that stopped on bad input would look like
 * the result of a whole trace: remove it.  Only a regular file, never a
 * device such as /dev/stdout or /dev/full.
 */
static void remove_output(const char *path)
{
    struct stat st;

    if (path && !stat(path, &st) && S_ISREG(st.st_mode)) {
        unlink(path);
    }
}

int main(int argc, char **argv)
{
    Replay r = {
        .interval_ns = NET_RSC_DEFAULT_INTERVAL_NS,
        .max_flows = NET_RSC_DEFAULT_FLOWS,
    };
    g_autofree char *mode = NULL;
    g_autofree char *interval_ns = NULL;
    g_autofree char *max_flows = NULL;
    g_autofree char *refuse_every = NULL;
    g_autofree char *expect = NULL;
    g_autofree char *out_pcap = NULL;
    g_autofree char *out_json = NULL;
    const char *opened_pcap = NULL, *opened_json = NULL;
    const char *in_name;
    g_autofree char *bad = NULL;
    g_auto(GStrv) files = NULL;
    int64_t expect_data_out = -1;
    int64_t max_flows_n = NET_RSC_DEFAULT_FLOWS;
    const struct {
        const char *name;
        char **s;
        int64_t min, max;
        int64_t *v;
    } nums[] = {
        { "--interval-ns", &interval_ns, 0, INT64_MAX, &r.interval_ns },
        { "--max-flows", &max_flows, 1, NET_RSC_MAX_FLOWS, &max_flows_n },
        { "--refuse-every", &refuse_every, 0, INT64_MAX, &r.refuse_every },
        { "--expect-data-packets", &expect, 0, INT64_MAX,
          &expect_data_out },
    };
    GOptionEntry entries[] = {
        { "mode", 0, 0, G_OPTION_ARG_STRING, &mode,
          "Rules and header contract: rsc-ext (default, Windows' RSC) or "
          "gso (plain GSO packets for other guests)", "MODE" },
        { "interval-ns", 0, 0, G_OPTION_ARG_STRING, &interval_ns,
          "Longest wait of a unit (default "
          G_STRINGIFY(NET_RSC_DEFAULT_INTERVAL_NS) ")", "N" },
        { "max-flows", 0, 0, G_OPTION_ARG_STRING, &max_flows,
          "Units held at once, 1.." G_STRINGIFY(NET_RSC_MAX_FLOWS)
          " (default " G_STRINGIFY(NET_RSC_DEFAULT_FLOWS) ")", "N" },
        { "out-pcap", 0, 0, G_OPTION_ARG_FILENAME, &out_pcap,
          "Write the delivered packets to FILE", "FILE" },
        { "out-json", 0, 0, G_OPTION_ARG_FILENAME, &out_json,
          "Write one JSON object per delivered packet to FILE", "FILE" },
        { "refuse-every", 0, 0, G_OPTION_ARG_STRING, &refuse_every,
          "Refuse every Nth delivery (N >= 2; 0 = never, default)", "N" },
        { "expect-data-packets", 0, 0, G_OPTION_ARG_STRING, &expect,
          "Fail unless exactly N data packets are delivered", "N" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &r.quiet,
          "Print nothing on stdout; problems still go to stderr", NULL },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files,
          NULL, NULL },
        { NULL }
    };
    GOptionContext *ctx;
    GError *err = NULL;
    NetRscConfig cfg;
    PcapReader *rd;
    PcapFrame fr;
    guint i;
    int rc;

    setlocale(LC_CTYPE, "");
    ctx = g_option_context_new("IN.pcap");
    g_option_context_set_summary(ctx,
        "Feed an Ethernet pcap trace through the TCP RSC engine, check "
        "that every\nTCP stream is delivered intact and every coalesced "
        "packet is well formed,\nand print statistics.\n\n"
        "Exit status: 0 all checks pass, 1 a stream differs or a check "
        "failed,\n2 bad options or unreadable input (then no output file is "
        "left behind).");
    g_option_context_set_description(ctx,
        "IN.pcap (- for standard input, such as tcpdump -w -) is a classic "
        "pcap file\n(not pcapng) of link type Ethernet, with microsecond "
        "or nanosecond\ntimestamps, in either byte order, holding at least "
        "one record.  Frames\ncut short by the capture's snaplen are refused "
        "(exit 2): their streams\ncould not be checked; capture with "
        "tcpdump -s 0.  The timestamps are the\nengine's clock: a frame "
        "stamped earlier than the one before it is fed at\nthat one's "
        "time, and counted in a warning.\n"
        "Numbers are decimal integers.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        rc = usage_error(ctx, "%s", err->message);
        g_error_free(err);
        return rc;
    }
    if (!files || !files[0] || files[1]) {
        return usage_error(ctx, "expected exactly one input pcap file");
    }
    if (!files[0][0]) {
        return usage_error(ctx, "the input file name is empty");
    }
    if (!mode || !strcmp(mode, "rsc-ext")) {
        r.mode = NET_RSC_MODE_RSC_EXT;
    } else if (!strcmp(mode, "gso")) {
        r.mode = NET_RSC_MODE_GSO;
    } else {
        return usage_error(ctx, "--mode '%s': must be rsc-ext or gso",
                           mode);
    }
    for (i = 0; i < G_N_ELEMENTS(nums); i++) {
        bad = parse_num(nums[i].name, *nums[i].s, nums[i].min, nums[i].max,
                        nums[i].v);
        if (bad) {
            return usage_error(ctx, "%s", bad);
        }
    }
    r.max_flows = max_flows_n;
    if (r.refuse_every == 1) {
        return usage_error(ctx, "--refuse-every 1: must be 0 (never) or "
                           ">= 2");
    }
    if ((out_pcap && !out_pcap[0]) || (out_json && !out_json[0])) {
        return usage_error(ctx, "%s: the file name is empty",
                           out_pcap && !out_pcap[0] ? "--out-pcap"
                                                    : "--out-json");
    }
    if (out_pcap && same_file(out_pcap, files[0])) {
        return usage_error(ctx, "--out-pcap %s: is the input file",
                           out_pcap);
    }
    if (out_json && same_file(out_json, files[0])) {
        return usage_error(ctx, "--out-json %s: is the input file",
                           out_json);
    }
    g_option_context_free(ctx);

    in_name = strcmp(files[0], "-") ? files[0] : "standard input";
    rd = pcap_reader_open(files[0], &err);
    if (!rd) {
        g_printerr("rsc-replay: %s\n", err->message);
        g_error_free(err);
        return EXIT_BAD_INPUT;
    }
    if (pcap_reader_linktype(rd) != PCAP_LINKTYPE_ETHERNET) {
        g_printerr("rsc-replay: %s: link type %u is not Ethernet (1)\n",
                   in_name, pcap_reader_linktype(rd));
        pcap_reader_close(rd);
        return EXIT_BAD_INPUT;
    }
    if (out_pcap) {
        r.out_pcap = pcap_writer_open(out_pcap, PCAP_LINKTYPE_ETHERNET,
                                      pcap_reader_nsec(rd), &err);
        if (!r.out_pcap) {
            g_printerr("rsc-replay: --out-pcap %s\n", err->message);
            g_error_free(err);
            pcap_reader_close(rd);
            return EXIT_BAD_INPUT;
        }
        opened_pcap = out_pcap;
    }
    if (out_json) {
        /* checked once --out-pcap exists, in case both name one file */
        if (out_pcap && same_file(out_json, out_pcap)) {
            g_printerr("rsc-replay: --out-json %s: is the --out-pcap "
                       "file\n", out_json);
            rc = EXIT_BAD_INPUT;
            goto out_files;
        }
        r.out_json = fopen(out_json, "w");
        if (!r.out_json) {
            g_printerr("rsc-replay: --out-json %s: %s\n", out_json,
                       g_strerror(errno));
            rc = EXIT_BAD_INPUT;
            goto out_files;
        }
        opened_json = out_json;
        setvbuf(r.out_json, NULL, _IOFBF, 1 << 20);
    }

    r.flows = g_hash_table_new(rsc_flow_key_hash, rsc_flow_key_equal);
    r.flow_list = g_ptr_array_new_with_free_func(flow_free);
    cfg = (NetRscConfig) {
        .mode = r.mode,
        .max_flows = r.max_flows,
        .interval_ns = r.interval_ns,
        .hash_seed = 0x52534321,
        .deliver = replay_deliver,
        .opaque = &r,
    };
    r.e = net_rsc_new(&cfg);
    if (!r.e) {
        g_printerr("rsc-replay: net_rsc_new() refused the configuration\n");
        rc = EXIT_BAD_INPUT;
        goto out;
    }

    while ((rc = pcap_reader_next(rd, &fr, &err)) > 0) {
        if (fr.len < fr.orig_len) {
            g_printerr("rsc-replay: %s: record %" PRIu64 " at offset %"
                       PRIu64 ": frame cut by the capture's snaplen (%u of "
                       "%u bytes); its stream could not be checked, "
                       "capture whole frames (tcpdump -s 0)\n", in_name,
                       fr.index, fr.offset, fr.len, fr.orig_len);
            rc = EXIT_BAD_INPUT;
            goto out;
        }
        /* the engine's clock, like QEMU's, never goes back */
        if (fr.time_ns < r.now) {
            r.clamped_in++;
            fr.time_ns = r.now;
        }
        replay_clock(&r, fr.time_ns);
        replay_input(&r, &fr);
        replay_feed(&r, fr.data, fr.len);
    }
    if (rc < 0) {
        g_printerr("rsc-replay: %s\n", err->message);
        g_error_free(err);
        rc = EXIT_BAD_INPUT;
        goto out;
    }
    if (!r.frames_in) {
        g_printerr("rsc-replay: %s: no records, nothing to replay\n",
                   in_name);
        rc = EXIT_BAD_INPUT;
        goto out;
    }
    net_rsc_flush(r.e);
    replay_unstall(&r);
    check_totals(&r, net_rsc_stats(r.e));

    if (r.clamped_in) {
        g_printerr("rsc-replay: warning: %s: timestamps go back at %"
                   PRIu64 " frames; each was fed at the time of the frame "
                   "before it\n", in_name, r.clamped_in);
    }
    /* no report when an output file is incomplete */
    rc = EXIT_BAD_INPUT;
    if (r.out_pcap) {
        PcapWriter *w = r.out_pcap;

        r.out_pcap = NULL;
        if (!pcap_writer_close(w, &err)) {
            g_printerr("rsc-replay: --out-pcap %s\n", err->message);
            g_error_free(err);
            goto out;
        }
    }
    if (r.out_json) {
        FILE *f = r.out_json;
        int e = 0;

        /* a failed write leaves its error for fflush() to report again */
        if (fflush(f)) {
            e = errno;
        } else if (ferror(f)) {
            e = EIO;
        }
        r.out_json = NULL;
        if (fclose(f) && !e) {
            e = errno;
        }
        if (e) {
            g_printerr("rsc-replay: --out-json %s: %s\n", out_json,
                       g_strerror(e));
            goto out;
        }
    }
    if (!r.quiet) {
        print_report(&r, net_rsc_stats(r.e));
    }

    rc = r.errors ? EXIT_CHECK_FAILED : EXIT_SUCCESS;
    if (expect_data_out >= 0 && r.data_out != (uint64_t)expect_data_out) {
        g_printerr("rsc-replay: %" PRIu64 " data packets delivered, "
                   "expected %" PRId64 "\n", r.data_out, expect_data_out);
        rc = EXIT_CHECK_FAILED;
    }
    for (i = 0; i < r.flow_list->len; i++) {
        Flow *f = g_ptr_array_index(r.flow_list, i);

        if (f->differs) {
            rc = EXIT_CHECK_FAILED;
        }
    }

out:
    if (r.e) {
        net_rsc_free(r.e);
    }
    g_hash_table_destroy(r.flows);
    g_ptr_array_free(r.flow_list, TRUE);
out_files:
    if (r.out_pcap) {
        pcap_writer_close(r.out_pcap, NULL);
    }
    if (r.out_json) {
        fclose(r.out_json);
    }
    if (rc == EXIT_BAD_INPUT) {
        remove_output(opened_pcap);
        remove_output(opened_json);
    }
    pcap_reader_close(rd);
    return rc;
}
