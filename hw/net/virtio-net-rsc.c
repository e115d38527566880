/*
 * TCP receive segment coalescing (RSC) engine
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * See include/net/rsc.h for the model and the output contract.  In
 * NET_RSC_MODE_RSC_EXT the rules follow Microsoft's RSC rules for what may
 * join a coalesced unit; PSH is ORed into the unit and makes it due at the
 * next clock tick, so that a receive burst still coalesces, as Linux GRO
 * flushes at the end of a poll.  NET_RSC_MODE_GSO adds the conditions
 * that make a unit re-segment into the very segments fed
 * (rsc_resegmentable()).
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "net/rsc.h"

#define RSC_ETH_HLEN        14
#define RSC_ETH_P_IPV4      0x0800
#define RSC_ETH_P_IPV6      0x86dd
#define RSC_ETH_P_VLAN      0x8100
#define RSC_ETH_P_QINQ      0x88a8
#define RSC_IP_PROTO_TCP    6
#define RSC_IPV4_HLEN       20
#define RSC_IPV6_HLEN       40
#define RSC_TCP_HLEN        20

/*
 * TCP flags a joining segment may carry: ACK, PSH, and in GSO mode FIN
 * (rsc_ored_flags()).  Any other (SYN, RST, URG, ECE, CWR, and FIN in
 * RSC_EXT mode) finalizes.
 */
#define RSC_TCP_FIN         0x01
#define RSC_TCP_PSH         0x08
#define RSC_TCP_ACK         0x10
/* low bits of TCP byte 12: AE (AccECN) and reserved bits */
#define RSC_TCP_AE_RSVD     0x0f

#define RSC_TCPOPT_EOL      0
#define RSC_TCPOPT_NOP      1
#define RSC_TCPOPT_TS       8
#define RSC_TCPOLEN_TS      10

/* IPv6 extension headers walked to find the TCP header of a flow */
#define RSC_IPV6_HOPOPTS    0
#define RSC_IPV6_ROUTING    43
#define RSC_IPV6_FRAGMENT   44
#define RSC_IPV6_DSTOPTS    60
#define RSC_IPV6_MAX_EXT    8

#define RSC_NONE        (-1)
#define RSC_BUF_MIN     2048

/* The header of a frame the backend gave none for */
static const NetRscHdr rsc_no_hdr;

/* What to do with a fed frame, decided from the frame alone */
typedef enum RscClass {
    RSC_BYPASS,         /* no flow: deliver now */
    RSC_FINALIZE,       /* flow's unit first, then the frame as fed */
    RSC_CANDIDATE,      /* may join or start the flow's unit */
} RscClass;

typedef struct RscKey {
    uint32_t addr[8];   /* source then destination; IPv4 uses [0] and [4] */
    uint16_t sport;
    uint16_t dport;
    uint32_t ipv6;
} RscKey;

#define RSC_KEY_WORDS       (sizeof(RscKey) / 4)

/* Parsed view of one fed frame; offsets are from the frame start */
typedef struct RscSeg {
    const uint8_t *frame;
    size_t len;
    const NetRscHdr *hdr;
    RscKey key;
    uint32_t hash;
    bool ipv6;
    bool abort;         /* with RSC_FINALIZE: an exception rule fired */
    uint16_t l4;        /* TCP header */
    uint16_t data;      /* payload */
    uint32_t end;       /* end of the IP datagram (padding follows) */
    uint32_t seq;
    uint32_t ack;
    uint16_t win;
    uint8_t tcp_flags;
    uint16_t ts;        /* offset of TSval, 0 if no timestamp option */
    uint32_t tsval;
    uint32_t tsecr;
    uint32_t hdr_sum;   /* pseudo header + TCP header, unfolded */
    bool verify;        /* nobody vouched for the TCP checksum */
    bool summed;        /* payload_sum holds the payload's sum */
    uint16_t payload_sum;
    struct NetRscChain *chain;  /* the flow's open unit, if any */
} RscSeg;

/*
 * A slot: free (in the free list, through hnext), an open unit (in the
 * hash table and the age list) or a finished packet (in the output queue)
 */
typedef struct NetRscChain {
    RscKey key;
    uint32_t hash;
    int32_t hnext;      /* hash bucket list, or free list */
    int32_t older;      /* age list: open units by first arrival */
    int32_t newer;
    int32_t qnext;      /* output queue */
    int64_t deadline;

    uint8_t *buf;
    uint32_t cap;
    uint32_t len;       /* bytes of the packet in buf */
    uint32_t first_len; /* the first frame as fed, padding included */
    NetRscHdr first_hdr;
    NetRscHdr out_hdr;  /* set when closed */

    bool ipv6;
    uint16_t l4;
    uint16_t data;
    uint16_t ts;
    uint16_t mss;
    uint8_t hop_min;
    uint8_t ored_flags;     /* PSH, and in GSO mode FIN, seen */
    uint32_t next_seq;
    uint32_t ack;
    uint16_t win;
    uint32_t tsval;
    uint32_t tsecr;
    uint32_t payload_len;
    uint32_t payload_sum;   /* unfolded, of the payload so far */
    uint16_t segments;
    bool merged;            /* absorbed a frame after the first */
} NetRscChain;

struct NetRscEngine {
    NetRscConfig cfg;
    NetRscStats stats;
    NetRscChain *chains;
    int32_t *buckets;
    uint32_t bucket_mask;
    uint32_t hash_key[RSC_KEY_WORDS];
    int32_t free_head;
    int32_t oldest;
    int32_t newest;
    int32_t qhead;
    int32_t qtail;
    bool ipv4;
    bool ipv6;
    /*
     * A frame that closed its flow's unit and was refused: when it is fed
     * again (the next frame, if the caller keeps it) it goes out alone as
     * decided then (no unit to close now), and is counted once.  Only that
     * very frame, known by its flow, length and digest: if the caller
     * dropped it, the next frame decides for itself.
     */
    bool refused_finalizer;
    bool refused_abort;
    bool refused_dup_ack;
    RscKey refused_key;
    size_t refused_len;
    uint64_t refused_digest;
    uint32_t open;
    uint32_t closed;
    bool stalled;
    /*
     * Inside the delivery callback, which must not call back in: the
     * caller's queue walk and the frame being copied would change under it
     */
    bool delivering;
    size_t buf_bytes;
};

/*
 * Internet checksum helpers.  Sums are kept unfolded in 32 bits as the sum
 * of big-endian 16-bit words; rsc_fold() finishes them.
 */
static uint32_t rsc_fold(uint64_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

/* Sum of the native-endian 16-bit words of @p; a trailing byte is high */
static uint64_t rsc_sum_words(const uint8_t *p, size_t n)
{
    uint64_t sum = 0;
    uint32_t w;

    while (n >= 16) {
        uint32_t a, b, c, d;
        memcpy(&a, p, 4);
        memcpy(&b, p + 4, 4);
        memcpy(&c, p + 8, 4);
        memcpy(&d, p + 12, 4);
        sum += (uint64_t)a + b + c + d;
        p += 16;
        n -= 16;
    }
    while (n >= 4) {
        memcpy(&w, p, 4);
        sum += w;
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        uint16_t h;
        memcpy(&h, p, 2);
        sum += h;
        p += 2;
        n -= 2;
    }
    if (n) {
        /* a trailing byte is the high byte of a big-endian word */
        uint16_t h = 0;
        memcpy(&h, p, 1);
        sum += h;
    }
    return sum;
}

/* Summing native words gives the byte-swapped sum on little endian */
static uint16_t rsc_sum(const uint8_t *p, size_t n)
{
    return GUINT16_FROM_BE((uint16_t)rsc_fold(rsc_sum_words(p, n)));
}

/*
 * Copy @n bytes from @src to @dst and return their sum as rsc_sum() does,
 * reading the data once: a segment's payload is summed to verify it and
 * copied into its unit, and one pass costs little more than the copy.
 * Generic 16-byte vectors become SSE2 on x86-64 and NEON on AArch64.
 * Every 32-bit lane adds two 16-bit words per step, at most 2 * 0xffff, so
 * it cannot overflow for n below 2^15 steps of 32 bytes (1 MiB).
 */
typedef uint32_t RscVec __attribute__((vector_size(16)));

static uint16_t rsc_copy_sum(uint8_t *dst, const uint8_t *src, size_t n)
{
    const RscVec low16 = { 0xffff, 0xffff, 0xffff, 0xffff };
    RscVec acc0 = { 0 }, acc1 = { 0 };
    uint64_t sum;
    size_t i;

    assert(n <= NET_RSC_BUF_MAX);
    for (i = 0; i + 2 * sizeof(RscVec) <= n; i += 2 * sizeof(RscVec)) {
        RscVec a, b;

        memcpy(&a, src + i, sizeof(a));
        memcpy(&b, src + i + sizeof(a), sizeof(b));
        memcpy(dst + i, &a, sizeof(a));
        memcpy(dst + i + sizeof(a), &b, sizeof(b));
        acc0 += (a & low16) + (a >> 16);
        acc1 += (b & low16) + (b >> 16);
    }
    acc0 += acc1;
    sum = (uint64_t)acc0[0] + acc0[1] + acc0[2] + acc0[3];
    memcpy(dst + i, src + i, n - i);
    /* i is even: the tail's words line up with the vectors' */
    sum += rsc_sum_words(src + i, n - i);
    return GUINT16_FROM_BE((uint16_t)rsc_fold(sum));
}

/* Add the sum of a block that starts @offset bytes into the summed data */
static uint32_t rsc_sum_at(uint32_t sum, uint16_t block, uint32_t offset)
{
    if (offset & 1) {
        block = (block << 8) | (block >> 8);
    }
    return sum + block;
}

static uint32_t rsc_pseudo_sum(const uint8_t *l3, bool ipv6, uint32_t l4_len)
{
    uint32_t sum;

    if (ipv6) {
        sum = rsc_sum(l3 + 8, 32);
    } else {
        sum = rsc_sum(l3 + 12, 8);
    }
    return sum + RSC_IP_PROTO_TCP + (l4_len >> 16) + (l4_len & 0xffff);
}

/*
 * A 64-bit digest of @n bytes at @p, to know a frame fed again: only on
 * the rare path of a refused delivery
 */
static uint64_t rsc_digest(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    uint64_t w;

    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    return h ^ (h >> 29);
}

static inline int32_t rsc_seq_diff(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b);
}

/*
 * NH, the inner hash of UMAC: for two different flow keys the 64-bit sums
 * collide with probability 2^-32 over the random @hk, whatever addresses
 * and ports a remote sender picks, so no set of flows lands in one bucket
 * for every seed.  The final mix (a bijection) spreads the sum into the
 * low bits the buckets use.
 */
static uint32_t rsc_hash(const RscKey *k, const uint32_t *hk)
{
    const uint8_t *p = (const uint8_t *)k;
    uint64_t sum = 0;
    size_t i;

    for (i = 0; i < RSC_KEY_WORDS; i += 2) {
        uint32_t a, b;

        memcpy(&a, p + 4 * i, 4);
        memcpy(&b, p + 4 * i + 4, 4);
        sum += (uint64_t)(uint32_t)(a + hk[i]) * (uint32_t)(b + hk[i + 1]);
    }
    sum ^= sum >> 33;
    sum *= 0xff51afd7ed558ccdULL;
    sum ^= sum >> 33;
    return sum;
}

/*
 * TCP options: only NOP, EOL and one timestamp option may appear in a
 * segment that joins a unit.
 */
static bool rsc_parse_options(RscSeg *s, const uint8_t *opt, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t kind = opt[i];

        if (kind == RSC_TCPOPT_EOL) {
            break;
        }
        if (kind == RSC_TCPOPT_NOP) {
            i++;
            continue;
        }
        if (kind != RSC_TCPOPT_TS || s->ts || i + RSC_TCPOLEN_TS > n ||
            opt[i + 1] != RSC_TCPOLEN_TS) {
            return false;
        }
        s->ts = opt + i + 2 - s->frame;
        s->tsval = ldl_be_p(opt + i + 2);
        s->tsecr = ldl_be_p(opt + i + 6);
        i += RSC_TCPOLEN_TS;
    }
    return true;
}

/* Find the TCP header behind IPv6 extension headers, or return 0. */
static size_t rsc_skip_ipv6_ext(const uint8_t *f, size_t off, size_t end,
                                uint8_t nh)
{
    int i;

    for (i = 0; i < RSC_IPV6_MAX_EXT && nh != RSC_IP_PROTO_TCP; i++) {
        size_t hlen;

        if (off + 8 > end) {
            return 0;
        }
        switch (nh) {
        case RSC_IPV6_HOPOPTS:
        case RSC_IPV6_ROUTING:
        case RSC_IPV6_DSTOPTS:
            hlen = (f[off + 1] + 1) * 8;
            break;
        case RSC_IPV6_FRAGMENT:
            if (lduw_be_p(f + off + 2) & 0xfff8) {
                /* a later fragment carries no TCP header */
                return 0;
            }
            hlen = 8;
            break;
        default:
            return 0;
        }
        nh = f[off];
        off += hlen;
    }
    return nh == RSC_IP_PROTO_TCP ? off : 0;
}

static RscClass rsc_finalize(RscSeg *s, bool abort)
{
    s->abort = abort;
    return RSC_FINALIZE;
}

static NetRscChain *rsc_lookup(NetRscEngine *e, const RscSeg *s);

/*
 * Flags a segment may carry besides ACK and still join, ORed into the
 * packet.  Microsoft's rules make FIN an exception; Linux GRO merges it
 * as the last segment, and so does GSO mode.
 */
static uint8_t rsc_ored_flags(const NetRscEngine *e)
{
    return e->cfg.mode == NET_RSC_MODE_GSO ? RSC_TCP_PSH | RSC_TCP_FIN
                                           : RSC_TCP_PSH;
}

/*
 * Decide from the frame alone whether it bypasses the engine, must
 * finalize its flow, or is a candidate for coalescing.
 */
static RscClass rsc_classify(NetRscEngine *e, RscSeg *s)
{
    const uint8_t *f = s->frame;
    const uint8_t *ip = f + RSC_ETH_HLEN;
    const uint8_t *tcp;
    size_t l4, tcp_hlen, ip_hlen;
    bool exception = false;

    if (s->len < RSC_ETH_HLEN) {
        return RSC_BYPASS;
    }
    memset(&s->key, 0, sizeof(s->key));
    switch (lduw_be_p(f + 12)) {
    case RSC_ETH_P_IPV4:
        if (!e->ipv4 || s->len < RSC_ETH_HLEN + RSC_IPV4_HLEN ||
            (ip[0] >> 4) != 4) {
            return RSC_BYPASS;
        }
        ip_hlen = (ip[0] & 0xf) * 4;
        s->end = RSC_ETH_HLEN + lduw_be_p(ip + 2);
        if (ip_hlen < RSC_IPV4_HLEN || s->end < RSC_ETH_HLEN + ip_hlen ||
            s->end > s->len || ip[9] != RSC_IP_PROTO_TCP ||
            (lduw_be_p(ip + 6) & 0x1fff)) {
            /* malformed, not TCP, or a fragment without the TCP header */
            return RSC_BYPASS;
        }
        /* IPv4 options, first fragment (MF) */
        exception = ip_hlen != RSC_IPV4_HLEN || (ip[6] & 0x20);
        s->ipv6 = false;
        s->key.addr[0] = ldl_be_p(ip + 12);
        s->key.addr[4] = ldl_be_p(ip + 16);
        l4 = RSC_ETH_HLEN + ip_hlen;
        break;
    case RSC_ETH_P_IPV6:
        if (!e->ipv6 || s->len < RSC_ETH_HLEN + RSC_IPV6_HLEN ||
            (ip[0] >> 4) != 6) {
            return RSC_BYPASS;
        }
        s->end = RSC_ETH_HLEN + RSC_IPV6_HLEN + lduw_be_p(ip + 4);
        if (s->end > s->len) {
            return RSC_BYPASS;
        }
        l4 = RSC_ETH_HLEN + RSC_IPV6_HLEN;
        if (ip[6] != RSC_IP_PROTO_TCP) {
            l4 = rsc_skip_ipv6_ext(f, l4, s->end, ip[6]);
            if (!l4) {
                return RSC_BYPASS;
            }
            exception = true;
        }
        s->ipv6 = true;
        memcpy(s->key.addr, ip + 8, 32);
        s->key.ipv6 = 1;
        break;
    default:
        return RSC_BYPASS;
    }

    if (l4 + RSC_TCP_HLEN > s->end) {
        return RSC_BYPASS;
    }
    tcp = f + l4;
    tcp_hlen = (tcp[12] >> 4) * 4;
    if (tcp_hlen < RSC_TCP_HLEN || l4 + tcp_hlen > s->end) {
        return RSC_BYPASS;
    }
    s->key.sport = lduw_be_p(tcp);
    s->key.dport = lduw_be_p(tcp + 2);
    s->hash = rsc_hash(&s->key, e->hash_key);
    s->chain = rsc_lookup(e, s);
    if (s->chain) {
        /* the unit's tail is written soon and its headers compared */
        __builtin_prefetch(s->chain->buf + s->chain->len, 1);
        __builtin_prefetch(s->chain->buf, 0);
    }
    s->l4 = l4;
    s->data = l4 + tcp_hlen;
    s->seq = ldl_be_p(tcp + 4);
    s->ack = ldl_be_p(tcp + 8);
    s->tcp_flags = tcp[13];
    s->win = lduw_be_p(tcp + 14);
    s->ts = 0;

    if (exception) {
        return rsc_finalize(s, true);
    }
    if ((tcp[12] & RSC_TCP_AE_RSVD) ||
        (s->tcp_flags & ~rsc_ored_flags(e)) != RSC_TCP_ACK) {
        /* AE or reserved bits, SYN, FIN, RST, URG, ECE, CWR, or no ACK */
        return rsc_finalize(s, true);
    }
    if (!rsc_parse_options(s, tcp + RSC_TCP_HLEN, tcp_hlen - RSC_TCP_HLEN)) {
        return rsc_finalize(s, true);
    }
    if (s->hdr && s->hdr->gso_type != NET_RSC_GSO_NONE) {
        /* already a large packet */
        return rsc_finalize(s, false);
    }
    if (s->len > NET_RSC_BUF_MAX) {
        return rsc_finalize(s, false);
    }
    if (!s->ipv6 && rsc_fold(rsc_sum(ip, RSC_IPV4_HLEN)) != 0xffff) {
        return rsc_finalize(s, true);
    }

    /* the payload is checked when it is copied: see rsc_take_payload() */
    s->hdr_sum = rsc_pseudo_sum(ip, s->ipv6, s->end - l4) +
                 rsc_sum(tcp, tcp_hlen);
    /*
     * DATA_VALID vouches for the data, not for the checksum field, so the
     * payload is summed all the same: the coalesced packet's checksum is
     * computed, never derived.
     */
    s->verify = !(s->hdr && ((s->hdr->flags & NET_RSC_F_DATA_VALID) ||
                             ((s->hdr->flags & NET_RSC_F_NEEDS_CSUM) &&
                              s->hdr->csum_start == l4 &&
                              s->hdr->csum_offset == 16)));
    return RSC_CANDIDATE;
}

/* Does the TCP checksum of candidate @s hold, given its payload's sum? */
static bool rsc_sum_ok(const RscSeg *s, uint16_t payload_sum)
{
    return rsc_fold((uint64_t)s->hdr_sum + payload_sum) == 0xffff;
}

/*
 * Sum the payload of candidate @s ahead of its copy, which then reuses the
 * sum (rsc_take_payload()); does its TCP checksum hold?
 */
static bool rsc_verify_ahead(RscSeg *s)
{
    s->payload_sum = rsc_sum(s->frame + s->data, s->end - s->data);
    s->summed = true;
    return rsc_sum_ok(s, s->payload_sum);
}

/*
 * Copy the payload of candidate @s to @dst and set @sum to its checksum.
 * Returns false if its TCP checksum is bad; then @dst keeps its bytes
 * unless @dst_spare says they do not matter.
 */
static bool rsc_take_payload(const RscSeg *s, uint8_t *dst, bool dst_spare,
                             uint16_t *sum)
{
    const uint8_t *src = s->frame + s->data;
    size_t n = s->end - s->data;

    if (s->summed) {
        /* verified already, so that a bad segment evicts no unit */
        memcpy(dst, src, n);
        *sum = s->payload_sum;
        return true;
    }
    /* the TCP header has even length: the payload sum needs no swap */
    if (dst_spare || !s->verify) {
        *sum = rsc_copy_sum(dst, src, n);
        return !s->verify || rsc_sum_ok(s, *sum);
    }
    *sum = rsc_sum(src, n);
    if (!rsc_sum_ok(s, *sum)) {
        return false;
    }
    memcpy(dst, src, n);
    return true;
}

/* Hash table, age list and output queue */

static NetRscChain *rsc_lookup(NetRscEngine *e, const RscSeg *s)
{
    int32_t i = e->buckets[s->hash & e->bucket_mask];

    while (i != RSC_NONE) {
        NetRscChain *c = &e->chains[i];
        if (c->hash == s->hash && !memcmp(&c->key, &s->key, sizeof(s->key))) {
            return c;
        }
        i = c->hnext;
    }
    return NULL;
}

static void rsc_age_unlink(NetRscEngine *e, NetRscChain *c)
{
    if (c->older != RSC_NONE) {
        e->chains[c->older].newer = c->newer;
    } else {
        e->oldest = c->newer;
    }
    if (c->newer != RSC_NONE) {
        e->chains[c->newer].older = c->older;
    } else {
        e->newest = c->older;
    }
}

static void rsc_unlink(NetRscEngine *e, NetRscChain *c)
{
    int32_t idx = c - e->chains;
    int32_t *p = &e->buckets[c->hash & e->bucket_mask];

    while (*p != idx) {
        p = &e->chains[*p].hnext;
    }
    *p = c->hnext;
    rsc_age_unlink(e, c);
    e->open--;
}

/*
 * PSH asks for prompt delivery but, in Microsoft's rules, does not end the
 * unit.  Make the unit due as soon as the clock moves past @now: segments
 * that arrive at the same instant (the rest of the same receive burst)
 * still join it, as Linux GRO holds a PSH segment until the end of its
 * NAPI poll.  Moving the unit to the old end of the age list keeps
 * deadlines in list order.
 */
static void rsc_due_soon(NetRscEngine *e, NetRscChain *c, int64_t now)
{
    int32_t idx = c - e->chains;
    int64_t due = now < INT64_MAX - 1 ? now + 1 : INT64_MAX - 1;

    if (e->oldest != idx) {
        c->deadline = MIN(due, e->chains[e->oldest].deadline);
        rsc_age_unlink(e, c);
        c->older = RSC_NONE;
        c->newer = e->oldest;
        e->chains[e->oldest].older = idx;
        e->oldest = idx;
    } else if (c->deadline > due) {
        c->deadline = due;
    }
}

static void rsc_release(NetRscEngine *e, NetRscChain *c)
{
    /* a slot reused by net_rsc_hold() must not count as coalesced */
    c->merged = false;
    c->hnext = e->free_head;
    e->free_head = c - e->chains;
}

/* Rewrite the headers of a unit that absorbed more than its first frame */
static void rsc_build_coalesced(NetRscChain *c, NetRscMode mode)
{
    uint8_t *ip = c->buf + RSC_ETH_HLEN;
    uint8_t *tcp = c->buf + c->l4;
    uint32_t l4_len = c->len - c->l4;
    uint32_t sum;

    if (c->ipv6) {
        stw_be_p(ip + 4, c->len - RSC_ETH_HLEN - RSC_IPV6_HLEN);
        ip[7] = c->hop_min;
    } else {
        stw_be_p(ip + 2, c->len - RSC_ETH_HLEN);
        ip[8] = c->hop_min;
        stw_be_p(ip + 10, 0);
        stw_be_p(ip + 10, ~rsc_fold(rsc_sum(ip, RSC_IPV4_HLEN)));
    }
    stl_be_p(tcp + 8, c->ack);
    tcp[13] |= c->ored_flags;
    stw_be_p(tcp + 14, c->win);
    if (c->ts) {
        stl_be_p(c->buf + c->ts, c->tsval);
        stl_be_p(c->buf + c->ts + 4, c->tsecr);
    }
    c->out_hdr = (NetRscHdr) {
        .gso_type = c->ipv6 ? NET_RSC_GSO_TCPV6 : NET_RSC_GSO_TCPV4,
        .hdr_len = c->data,
        .gso_size = c->mss,
    };
    sum = rsc_pseudo_sum(ip, c->ipv6, l4_len);
    if (mode == NET_RSC_MODE_GSO) {
        /* a partial checksum, as NEEDS_CSUM with csum_start means */
        stw_be_p(tcp + 16, rsc_fold(sum));
        c->out_hdr.flags = NET_RSC_F_NEEDS_CSUM;
        c->out_hdr.csum_start = c->l4;
        c->out_hdr.csum_offset = 16;
        return;
    }
    stw_be_p(tcp + 16, 0);
    sum += rsc_sum(tcp, c->data - c->l4);
    sum = rsc_sum_at(sum, rsc_fold(c->payload_sum), c->data - c->l4);
    stw_be_p(tcp + 16, ~rsc_fold(sum));
    c->out_hdr.flags = NET_RSC_F_NEEDS_CSUM | NET_RSC_F_RSC_INFO;
    c->out_hdr.segments = c->segments;
    /* dup_acks stays 0: duplicate ACKs never join (see rsc_join_ack()) */
}

/* Append a finished packet to the output queue */
static void rsc_enqueue(NetRscEngine *e, NetRscChain *c)
{
    c->qnext = RSC_NONE;
    if (e->qtail != RSC_NONE) {
        e->chains[e->qtail].qnext = c - e->chains;
    } else {
        e->qhead = c - e->chains;
    }
    e->qtail = c - e->chains;
    e->closed++;
}

/* Finish an open unit and queue it for delivery */
static void rsc_close(NetRscEngine *e, NetRscChain *c)
{
    rsc_unlink(e, c);
    if (c->merged) {
        rsc_build_coalesced(c, e->cfg.mode);
    } else {
        c->len = c->first_len;
        c->out_hdr = c->first_hdr;
    }
    rsc_enqueue(e, c);
}

static bool rsc_deliver(NetRscEngine *e, const NetRscHdr *hdr,
                        const uint8_t *frame, size_t len)
{
    bool taken;

    e->delivering = true;
    taken = e->cfg.deliver(e->cfg.opaque, hdr, frame, len);
    e->delivering = false;
    if (!taken) {
        e->stats.refused++;
        e->stalled = true;
        return false;
    }
    e->stats.delivered++;
    return true;
}

/*
 * Cutting up a held packet.  A guest may switch an offload off (Linux does
 * before it attaches an XDP program) while a GSO packet waits for its
 * buffers; from then on it must not get such packets, so the packet goes
 * out as the segments it was made of, which GSO mode keeps recoverable.
 * An RSC packet is not cut: it carries the latest ACK, window and
 * timestamps, so cutting it would make segments that were never sent,
 * and its RSC_INFO says what it is.
 */

/* Largest headers of a coalesced packet: Ethernet, IPv6, TCP with options */
#define RSC_HDR_MAX     (RSC_ETH_HLEN + RSC_IPV6_HLEN + 60)

/*
 * Offset of the TCP header of held packet @c if the guest no longer takes
 * it whole, else 0.  The headers are checked as well as read, since a
 * packet that a migration brought has nothing else vouching for them.
 */
static uint16_t rsc_split_l4(const NetRscEngine *e, const NetRscChain *c)
{
    const NetRscHdr *h = &c->out_hdr;
    const uint8_t *f = c->buf;
    uint16_t l4;

    if (h->flags != NET_RSC_F_NEEDS_CSUM) {
        /* RSC_INFO, or not a header the engine makes */
        return 0;
    }
    if (h->gso_type == NET_RSC_GSO_TCPV4 && !e->ipv4 &&
        c->len > RSC_ETH_HLEN + RSC_IPV4_HLEN + RSC_TCP_HLEN &&
        lduw_be_p(f + 12) == RSC_ETH_P_IPV4 && f[14] == 0x45 &&
        lduw_be_p(f + 16) == c->len - RSC_ETH_HLEN &&
        f[23] == RSC_IP_PROTO_TCP) {
        l4 = RSC_ETH_HLEN + RSC_IPV4_HLEN;
    } else if (h->gso_type == NET_RSC_GSO_TCPV6 && !e->ipv6 &&
               c->len > RSC_ETH_HLEN + RSC_IPV6_HLEN + RSC_TCP_HLEN &&
               lduw_be_p(f + 12) == RSC_ETH_P_IPV6 && (f[14] >> 4) == 6 &&
               lduw_be_p(f + 18) == c->len - RSC_ETH_HLEN - RSC_IPV6_HLEN &&
               f[20] == RSC_IP_PROTO_TCP) {
        l4 = RSC_ETH_HLEN + RSC_IPV6_HLEN;
    } else {
        return 0;
    }
    if (h->csum_start != l4 || h->csum_offset != 16 || h->gso_size == 0 ||
        h->hdr_len != l4 + (f[l4 + 12] >> 4) * 4 ||
        h->hdr_len < l4 + RSC_TCP_HLEN || h->hdr_len >= c->len) {
        return 0;
    }
    return l4;
}

/*
 * Turn the @hl bytes at @f into the headers of the packet that carries
 * payload bytes [@off, @off + @n) of a held packet whose headers are
 * @tmpl, as a guest's re-segmentation would: IP length, IPv4 ID counted
 * up per segment and header checksum, sequence number, and PSH and FIN
 * only on the last part.  A complete TCP checksum if @full, else the
 * partial one that NEEDS_CSUM asks for.
 */
static void rsc_part_headers(uint8_t *f, const uint8_t *tmpl, uint16_t l4,
                             uint16_t hl, uint32_t off, uint32_t n,
                             uint16_t mss, bool last, bool full)
{
    uint8_t *ip = f + RSC_ETH_HLEN;
    uint8_t *tcp = f + l4;
    bool ipv6 = l4 == RSC_ETH_HLEN + RSC_IPV6_HLEN;
    uint32_t l4_len = hl - l4 + n;
    uint32_t sum;

    memcpy(f, tmpl, hl);
    if (ipv6) {
        stw_be_p(ip + 4, l4_len);
    } else {
        stw_be_p(ip + 2, RSC_IPV4_HLEN + l4_len);
        stw_be_p(ip + 4, lduw_be_p(ip + 4) + off / mss);
        stw_be_p(ip + 10, 0);
        stw_be_p(ip + 10, ~rsc_fold(rsc_sum(ip, RSC_IPV4_HLEN)));
    }
    stl_be_p(tcp + 4, ldl_be_p(tcp + 4) + off);
    if (!last) {
        tcp[13] &= ~(RSC_TCP_PSH | RSC_TCP_FIN);
    }
    stw_be_p(tcp + 16, 0);
    sum = rsc_pseudo_sum(ip, ipv6, l4_len);
    if (full) {
        stw_be_p(tcp + 16, ~rsc_fold(sum + rsc_sum(tcp, l4_len)));
    } else {
        stw_be_p(tcp + 16, rsc_fold(sum));
    }
}

/*
 * The guest took the parts of @c before payload offset @off: @c becomes
 * the packet of the rest, whole again, in case the guest takes coalesced
 * packets once more by the time it has room.
 */
static void rsc_keep_rest(NetRscChain *c, const uint8_t *tmpl, uint16_t l4,
                          uint32_t off)
{
    NetRscHdr *h = &c->out_hdr;
    uint32_t rest = c->len - h->hdr_len - off;
    bool whole = rest > h->gso_size;

    rsc_part_headers(c->buf + off, tmpl, l4, h->hdr_len, off, rest,
                     h->gso_size, true, !whole);
    memmove(c->buf, c->buf + off, h->hdr_len + rest);
    c->len = h->hdr_len + rest;
    if (whole) {
        /* as fed, every segment but the last carried gso_size bytes */
        c->segments = DIV_ROUND_UP(rest, h->gso_size);
        c->payload_len = rest;
    } else {
        *h = (NetRscHdr) { 0 };
        c->merged = false;
    }
}

/*
 * Deliver held packet @c as parts of gso_size payload bytes with complete
 * checksums and no flags.  Each part's headers are written in front of its
 * payload, over bytes already delivered (or the packet's own headers),
 * which are put back after the call: @c stays intact for a retry.
 */
static bool rsc_deliver_split(NetRscEngine *e, NetRscChain *c, uint16_t l4)
{
    uint8_t tmpl[RSC_HDR_MAX], saved[RSC_HDR_MAX];
    uint16_t hl = c->out_hdr.hdr_len;
    uint16_t mss = c->out_hdr.gso_size;
    uint32_t total = c->len - hl;
    uint32_t off, n;

    memcpy(tmpl, c->buf, hl);
    for (off = 0; off < total; off += n) {
        uint8_t *f = c->buf + off;
        bool taken;

        n = MIN(mss, total - off);
        memcpy(saved, f, hl);
        rsc_part_headers(f, tmpl, l4, hl, off, n, mss, off + n == total,
                         true);
        taken = rsc_deliver(e, &rsc_no_hdr, f, hl + n);
        memcpy(f, saved, hl);
        if (!taken) {
            if (off) {
                rsc_keep_rest(c, tmpl, l4, off);
            }
            return false;
        }
    }
    return true;
}

/* Deliver queued units in order; false if the guest refused one */
static bool rsc_drain(NetRscEngine *e)
{
    while (e->qhead != RSC_NONE) {
        NetRscChain *c = &e->chains[e->qhead];
        uint16_t split_l4 = rsc_split_l4(e, c);

        if (split_l4 ? !rsc_deliver_split(e, c, split_l4) :
            !rsc_deliver(e, &c->out_hdr, c->buf, c->len)) {
            return false;
        }
        if (!split_l4 && c->merged && c->segments > 1) {
            e->stats.coalesce_events++;
            e->stats.coalesced_pkts += c->segments;
            e->stats.coalesced_octets += c->payload_len;
        }
        e->qhead = c->qnext;
        if (e->qhead == RSC_NONE) {
            e->qtail = RSC_NONE;
        }
        e->closed--;
        rsc_release(e, c);
    }
    e->stalled = false;
    return true;
}

/*
 * Grow the buffer of @c to hold @need bytes.  Callers keep @need within
 * NET_RSC_BUF_MAX: a candidate frame is no longer (rsc_classify()), a
 * unit stops at the IP datagram limit, net_rsc_hold() checks.
 */
static void rsc_reserve(NetRscChain *c, NetRscEngine *e, size_t need)
{
    size_t cap;

    assert(need <= NET_RSC_BUF_MAX);
    if (need <= c->cap) {
        return;
    }
    cap = MAX(c->cap, RSC_BUF_MIN);
    while (cap < need) {
        cap *= 2;
    }
    cap = MIN(cap, NET_RSC_BUF_MAX);
    e->buf_bytes += cap - c->cap;
    c->buf = g_realloc(c->buf, cap);
    c->cap = cap;
}

/* Open a unit with @s; false if its checksum is bad */
static bool rsc_start(NetRscEngine *e, const RscSeg *s, int64_t now)
{
    int32_t idx = e->free_head;
    NetRscChain *c = &e->chains[idx];
    const uint8_t *ip = s->frame + RSC_ETH_HLEN;
    uint16_t sum;

    rsc_reserve(c, e, s->len);
    if (!rsc_take_payload(s, c->buf + s->data, true, &sum)) {
        return false;
    }
    memcpy(c->buf, s->frame, s->data);
    /* padding too: a unit of one frame is delivered as it came */
    memcpy(c->buf + s->end, s->frame + s->end, s->len - s->end);
    e->free_head = c->hnext;

    c->key = s->key;
    c->hash = s->hash;
    c->hnext = e->buckets[s->hash & e->bucket_mask];
    e->buckets[s->hash & e->bucket_mask] = idx;
    c->newer = RSC_NONE;
    c->older = e->newest;
    if (e->newest != RSC_NONE) {
        e->chains[e->newest].newer = idx;
    } else {
        e->oldest = idx;
    }
    e->newest = idx;
    e->open++;

    /* saturate: INT64_MAX itself means "no deadline" */
    c->deadline = now < INT64_MAX - 1 - e->cfg.interval_ns ?
                  now + e->cfg.interval_ns : INT64_MAX - 1;
    c->len = s->end;
    c->first_len = s->len;
    c->first_hdr = s->hdr ? *s->hdr : rsc_no_hdr;
    c->first_hdr.segments = 0;
    c->first_hdr.dup_acks = 0;
    c->ipv6 = s->ipv6;
    c->l4 = s->l4;
    c->data = s->data;
    c->ts = s->ts;
    c->tsval = s->tsval;
    c->tsecr = s->tsecr;
    c->hop_min = s->ipv6 ? ip[7] : ip[8];
    c->ored_flags = s->tcp_flags & (RSC_TCP_PSH | RSC_TCP_FIN);
    c->payload_len = s->end - s->data;
    c->payload_sum = sum;
    c->mss = c->payload_len;
    c->next_seq = s->seq + c->payload_len;
    c->ack = s->ack;
    c->win = s->win;
    c->segments = 1;
    c->merged = false;
    return true;
}

typedef enum RscJoin {
    RSC_JOINED,
    RSC_NO_JOIN,        /* close the unit, the segment starts a new one */
    RSC_TOO_BIG,        /* likewise, at the IP datagram limit */
    RSC_NOT_SAME,       /* close the unit, the segment goes out alone */
    RSC_DUP_ACK,        /* likewise, and it counts as a duplicate ACK */
    RSC_ECN_CHANGE,     /* likewise, and it counts as an abort */
    RSC_BAD_CSUM,       /* likewise */
    RSC_ECN_NEW,        /* as RSC_NO_JOIN, and it counts as an abort */
    RSC_TS_BACK,        /* as RSC_BAD_CSUM: an older timestamp */
} RscJoin;

/* The ECN field of the IP header */
static uint8_t rsc_ecn(const uint8_t *frame, bool ipv6)
{
    const uint8_t *ip = frame + RSC_ETH_HLEN;

    return ipv6 ? (ip[1] >> 4) & 3 : ip[1] & 3;
}

/*
 * Header fields that must match for a segment to join: all but lengths,
 * IPv4 ID/checksum/TTL, IPv6 hop limit, and the TCP fields rsc_join()
 * handles.
 */
static bool rsc_same_headers(const NetRscChain *c, const RscSeg *s)
{
    const uint8_t *a = c->buf;
    const uint8_t *b = s->frame;

    if (s->data != c->data || s->ts != c->ts ||
        memcmp(a, b, RSC_ETH_HLEN)) {
        return false;
    }
    if (c->ipv6) {
        /* version, traffic class (with ECN), flow label */
        return !memcmp(a + RSC_ETH_HLEN, b + RSC_ETH_HLEN, 4);
    }
    /* TOS (with ECN) and flags/fragment (DF) */
    return a[RSC_ETH_HLEN + 1] == b[RSC_ETH_HLEN + 1] &&
           a[RSC_ETH_HLEN + 6] == b[RSC_ETH_HLEN + 6];
}

/*
 * GSO mode: the guest learns nothing but gso_size from the header, and
 * its segmentation copies the first segment's headers into every piece,
 * counts the IPv4 ID up by one and cuts gso_size-byte pieces.  Data
 * segment @s may join only if that gives it back unchanged.
 */
static bool rsc_resegmentable(const NetRscChain *c, const RscSeg *s)
{
    const uint8_t *ip = s->frame + RSC_ETH_HLEN;
    const uint8_t *first = c->buf + RSC_ETH_HLEN;
    size_t opt = c->l4 + RSC_TCP_HLEN;

    if (s->end - s->data > c->mss || s->ack != c->ack || s->win != c->win ||
        lduw_be_p(c->buf + c->l4 + 18) != lduw_be_p(s->frame + c->l4 + 18) ||
        memcmp(c->buf + opt, s->frame + opt, c->data - opt)) {
        return false;
    }
    if (c->ipv6) {
        return ip[7] == first[7];
    }
    return ip[8] == first[8] &&
           lduw_be_p(ip + 4) == (uint16_t)(lduw_be_p(first + 4) + c->segments);
}

/*
 * Pure ACK @s meets the open unit @c of its flow (RSC_EXT mode).  A window
 * update (same ACK number, new window) joins.  A duplicate ACK (same ACK
 * number and window) never does: it closes the unit and goes out alone.
 * Why: Windows' NetKVM reads the count from the header but hands NDIS 0
 * (NBLSetRSCInfo(..., 0) in ParaNdis6_Impl.cpp), so an absorbed duplicate
 * ACK would be hidden from the guest's TCP and its fast retransmit; and
 * Microsoft's rules ("Duplicate ACK Behavior/Exemption") say a miniport
 * should finalize the SCU and indicate a duplicate ACK alone, as NDIS
 * disables RSC if it sees DupAckCount > 0.  QEMU's old coalescer and
 * Linux GRO deliver them alone too.
 */
static RscJoin rsc_join_ack(NetRscEngine *e, NetRscChain *c, const RscSeg *s)
{
    if (s->ack != c->ack) {
        return RSC_NOT_SAME;
    }
    if (s->verify && !rsc_sum_ok(s, 0)) {
        return RSC_BAD_CSUM;
    }
    if (s->win == c->win) {
        return RSC_DUP_ACK;
    }
    e->stats.window_updates++;
    c->win = s->win;
    return RSC_JOINED;
}

/*
 * Candidate @s has another ECN field (ECT, CE) than its unit: Microsoft's
 * exception 8.  Like exception 7 (the size limit), it resumes coalescing
 * with the segment that triggered it: in RSC_EXT mode a data segment
 * closes the unit at once (a congestion mark must not wait) and starts
 * the next, so that a run of CE marks coalesces on its own.  Its checksum
 * is checked first, so that a bad one goes out alone as before and is
 * one abort.  A pure ACK goes out alone, and so does any segment in GSO
 * mode, where Linux GRO flushes on a TOS change and delivers the segment
 * as it is.
 */
static RscJoin rsc_join_ecn(NetRscEngine *e, RscSeg *s)
{
    if (e->cfg.mode == NET_RSC_MODE_GSO || s->end == s->data) {
        return RSC_ECN_CHANGE;
    }
    if (s->verify && !rsc_verify_ahead(s)) {
        return RSC_BAD_CSUM;
    }
    return RSC_ECN_NEW;
}

static RscJoin rsc_join(NetRscEngine *e, NetRscChain *c, RscSeg *s)
{
    uint32_t payload = s->end - s->data;
    const uint8_t *ip = s->frame + RSC_ETH_HLEN;
    uint8_t hop = c->ipv6 ? ip[7] : ip[8];
    uint16_t sum;

    if (rsc_ecn(c->buf, c->ipv6) != rsc_ecn(s->frame, s->ipv6)) {
        return rsc_join_ecn(e, s);
    }
    if (!rsc_same_headers(c, s)) {
        return RSC_NO_JOIN;
    }
    if (e->cfg.mode == NET_RSC_MODE_GSO) {
        if (!payload) {
            /* a GSO packet carries no window update: the guest sees it */
            return RSC_NOT_SAME;
        }
        if (!rsc_resegmentable(c, s)) {
            return RSC_NO_JOIN;
        }
    }
    if (s->seq != c->next_seq || rsc_seq_diff(s->ack, c->ack) < 0) {
        return payload ? RSC_NO_JOIN : RSC_NOT_SAME;
    }
    if (c->ts && rsc_seq_diff(s->tsval, c->tsval) < 0) {
        /*
         * Maybe an old duplicate, which the guest's PAWS check (RFC 7323)
         * drops by its timestamp.  A unit it started would carry the next
         * segment's newer timestamp and hide it: it goes out alone, an
         * exception in Microsoft's rules.  (In GSO mode its options differ
         * from the unit's, which rsc_resegmentable() caught.)
         */
        return payload ? RSC_TS_BACK : RSC_NOT_SAME;
    }

    if (payload == 0) {
        RscJoin r = rsc_join_ack(e, c, s);

        if (r != RSC_JOINED) {
            return r;
        }
    } else {
        if (c->len - RSC_ETH_HLEN + payload > NET_RSC_MAX_IP_LEN) {
            return RSC_TOO_BIG;
        }
        rsc_reserve(c, e, c->len + payload);
        /* a lone first frame's padding lies there, kept until a join */
        if (!rsc_take_payload(s, c->buf + c->len,
                              c->merged || c->first_len == c->len, &sum)) {
            return RSC_BAD_CSUM;
        }
        c->payload_sum = rsc_sum_at(c->payload_sum, sum, c->payload_len);
        c->len += payload;
        c->payload_len += payload;
        c->next_seq += payload;
        c->mss = MAX(c->mss, payload);
        c->segments++;
        c->ack = s->ack;
        c->win = s->win;
    }
    c->hop_min = MIN(c->hop_min, hop);
    c->ored_flags |= s->tcp_flags & (RSC_TCP_PSH | RSC_TCP_FIN);
    if (c->ts) {
        c->tsval = s->tsval;
        c->tsecr = s->tsecr;
    }
    c->merged = true;
    return RSC_JOINED;
}

/*
 * @s just joined or started unit @c.  PSH asks for prompt delivery; in GSO
 * mode nothing may follow it, FIN or a segment shorter than gso_size,
 * since the guest's segmentation puts them last.
 */
static void rsc_joined(NetRscEngine *e, NetRscChain *c, const RscSeg *s,
                       int64_t now)
{
    bool push = s->tcp_flags & RSC_TCP_PSH;

    if (e->cfg.mode == NET_RSC_MODE_GSO) {
        if ((s->tcp_flags & (RSC_TCP_PSH | RSC_TCP_FIN)) ||
            s->end - s->data < c->mss) {
            rsc_close(e, c);
            /* if the guest refuses, the engine stalls: the frame is taken */
            rsc_drain(e);
        }
    } else if (push) {
        rsc_due_soon(e, c, now);
    }
}

/*
 * TCP payload bytes of frame @f, from its headers (up to two VLAN tags,
 * IPv4 or IPv6 and its extension headers, TCP), the IP length clamped to
 * the frame (it may be 0 in a packet past 64 KiB); 0 if no TCP header is
 * found.
 */
static uint32_t rsc_tcp_payload(const uint8_t *f, size_t len)
{
    size_t l3 = RSC_ETH_HLEN, l4, end, data;
    uint16_t type;
    int tags;

    if (len < RSC_ETH_HLEN) {
        return 0;
    }
    type = lduw_be_p(f + 12);
    for (tags = 0; tags < 2 && (type == RSC_ETH_P_VLAN ||
                                type == RSC_ETH_P_QINQ); tags++) {
        if (l3 + 4 > len) {
            return 0;
        }
        type = lduw_be_p(f + l3 + 2);
        l3 += 4;
    }
    if (type == RSC_ETH_P_IPV4) {
        if (l3 + RSC_IPV4_HLEN > len || (f[l3] >> 4) != 4 ||
            (f[l3] & 0xf) * 4 < RSC_IPV4_HLEN ||
            f[l3 + 9] != RSC_IP_PROTO_TCP ||
            (lduw_be_p(f + l3 + 6) & 0x1fff)) {
            /* not TCP, or a later fragment */
            return 0;
        }
        l4 = l3 + (f[l3] & 0xf) * 4;
        end = l3 + lduw_be_p(f + l3 + 2);
    } else if (type == RSC_ETH_P_IPV6) {
        if (l3 + RSC_IPV6_HLEN > len || (f[l3] >> 4) != 6) {
            return 0;
        }
        l4 = l3 + RSC_IPV6_HLEN;
        end = l4 + lduw_be_p(f + l3 + 4);
        if (end > len || end <= l4) {
            end = len;
        }
        if (f[l3 + 6] != RSC_IP_PROTO_TCP) {
            l4 = rsc_skip_ipv6_ext(f, l4, end, f[l3 + 6]);
            if (!l4) {
                return 0;
            }
        }
    } else {
        return 0;
    }
    if (end > len || end <= l4) {
        end = len;
    }
    if (l4 + RSC_TCP_HLEN > end) {
        return 0;
    }
    data = l4 + (f[l4 + 12] >> 4) * 4;
    if (data < l4 + RSC_TCP_HLEN || data > end) {
        return 0;
    }
    return end - data;
}

/*
 * RSC_EXT mode: a TCP packet the backend made large (host GRO, a local
 * TSO sender) is a GSO packet too, and the spec wants RSC_INFO on every
 * GSO packet once RSC_EXT is negotiated, with the segment count; nothing
 * of it was absorbed here, so no duplicate ACK.  Its bytes stay as they
 * came: the checksum field holds the backend's partial sum, as
 * NEEDS_CSUM asks, and with RSC_INFO the driver finds it by parsing the
 * headers.
 */
static void rsc_backend_gso_info(NetRscHdr *hdr, const uint8_t *frame,
                                 size_t len)
{
    uint8_t type = hdr->gso_type & ~NET_RSC_GSO_ECN;
    uint32_t segs = 1;

    if (type != NET_RSC_GSO_TCPV4 && type != NET_RSC_GSO_TCPV6) {
        return;
    }
    if (hdr->gso_size) {
        segs = MAX(DIV_ROUND_UP(rsc_tcp_payload(frame, len), hdr->gso_size),
                   1);
    }
    hdr->flags |= NET_RSC_F_RSC_INFO;
    hdr->segments = MIN(segs, UINT16_MAX);
}

/* Deliver @s alone, after the queue; false if refused */
static bool rsc_deliver_seg(NetRscEngine *e, const RscSeg *s)
{
    NetRscHdr hdr = s->hdr ? *s->hdr : rsc_no_hdr;

    hdr.segments = 0;
    hdr.dup_acks = 0;
    if (e->cfg.mode == NET_RSC_MODE_RSC_EXT) {
        rsc_backend_gso_info(&hdr, s->frame, s->len);
    }
    return rsc_drain(e) && rsc_deliver(e, &hdr, s->frame, s->len);
}

static NetRscStatus rsc_taken(NetRscEngine *e)
{
    e->stats.received++;
    return NET_RSC_TAKEN;
}

NetRscStatus net_rsc_receive(NetRscEngine *e, const NetRscHdr *hdr,
                             const uint8_t *frame, size_t len,
                             int64_t now_ns)
{
    RscSeg s = { .frame = frame, .len = len, .hdr = hdr };
    NetRscChain *c = NULL;
    bool closed_unit = false;
    bool dup_ack = false;
    RscClass cls;

    assert(!e->delivering);
    if (e->stalled) {
        return NET_RSC_STALLED;
    }

    cls = rsc_classify(e, &s);
    c = s.chain;
    if (e->refused_finalizer) {
        /* this is the refused frame fed again, or it was dropped */
        e->refused_finalizer = false;
        if (cls != RSC_BYPASS && len == e->refused_len &&
            !memcmp(&s.key, &e->refused_key, sizeof(s.key)) &&
            rsc_digest(frame, len) == e->refused_digest) {
            cls = RSC_FINALIZE;
            s.abort = e->refused_abort;
            dup_ack = e->refused_dup_ack;
            closed_unit = true;
        }
    }

    if (cls == RSC_CANDIDATE && c) {
        switch (rsc_join(e, c, &s)) {
        case RSC_JOINED:
            rsc_joined(e, c, &s, now_ns);
            return rsc_taken(e);
        case RSC_ECN_NEW:
            /*
             * counted now, once: fed again after a refusal, the segment
             * finds no unit to differ from
             */
            e->stats.aborts++;
            rsc_close(e, c);
            c = NULL;
            closed_unit = true;
            break;
        case RSC_TOO_BIG:
            e->stats.size_limit++;
            /* fall through */
        case RSC_NO_JOIN:
            rsc_close(e, c);
            c = NULL;
            closed_unit = true;
            break;
        case RSC_DUP_ACK:
            dup_ack = true;
            cls = RSC_FINALIZE;
            break;
        case RSC_ECN_CHANGE:
        case RSC_BAD_CSUM:
        case RSC_TS_BACK:
            s.abort = true;
            cls = RSC_FINALIZE;
            break;
        case RSC_NOT_SAME:
            /* a pure ACK; one with a bad checksum is an exception too */
            s.abort = s.verify && !rsc_sum_ok(&s, 0);
            cls = RSC_FINALIZE;
            break;
        }
    }

    if (cls == RSC_CANDIDATE && s.end > s.data) {
        if (!rsc_drain(e)) {
            return NET_RSC_STALLED;
        }
        /* a segment that cannot open a unit must not cost a flow its own */
        if (e->free_head == RSC_NONE && s.verify) {
            s.abort = !rsc_verify_ahead(&s);
        }
        if (!s.abort && e->free_head == RSC_NONE) {
            e->stats.evictions++;
            rsc_close(e, &e->chains[e->oldest]);
            if (!rsc_drain(e)) {
                return NET_RSC_STALLED;
            }
        }
        if (!s.abort && rsc_start(e, &s, now_ns)) {
            rsc_joined(e, &e->chains[e->newest], &s, now_ns);
            return rsc_taken(e);
        }
        s.abort = true;
    }

    /* the segment goes out alone, after its flow's unit if it has one */
    if (c) {
        rsc_close(e, c);
        closed_unit = true;
    }
    if (!rsc_deliver_seg(e, &s)) {
        if (closed_unit) {
            e->refused_finalizer = true;
            e->refused_abort = s.abort;
            e->refused_dup_ack = dup_ack;
            e->refused_key = s.key;
            e->refused_len = len;
            e->refused_digest = rsc_digest(frame, len);
        }
        return NET_RSC_STALLED;
    }
    if (s.abort) {
        e->stats.aborts++;
    }
    if (dup_ack) {
        e->stats.dup_acks++;
    }
    if (closed_unit) {
        e->stats.finalized++;
    } else {
        e->stats.bypassed++;
    }
    return rsc_taken(e);
}

void net_rsc_set_protocols(NetRscEngine *e, bool ipv4, bool ipv6)
{
    assert(!e->delivering);
    e->ipv4 = ipv4;
    e->ipv6 = ipv6;
}

void net_rsc_set_mode(NetRscEngine *e, NetRscMode mode)
{
    assert(!e->delivering);
    e->cfg.mode = mode;
}

void net_rsc_poll(NetRscEngine *e, int64_t now_ns)
{
    assert(!e->delivering);
    while (e->oldest != RSC_NONE &&
           e->chains[e->oldest].deadline <= now_ns) {
        e->stats.timer_drains++;
        rsc_close(e, &e->chains[e->oldest]);
    }
    rsc_drain(e);
}

void net_rsc_seal(NetRscEngine *e)
{
    assert(!e->delivering);
    while (e->oldest != RSC_NONE) {
        rsc_close(e, &e->chains[e->oldest]);
    }
}

void net_rsc_flush(NetRscEngine *e)
{
    net_rsc_seal(e);
    rsc_drain(e);
}

void net_rsc_foreach_held(const NetRscEngine *e, NetRscHeldFn *fn,
                          void *opaque)
{
    int32_t i;

    for (i = e->qhead; i != RSC_NONE; i = e->chains[i].qnext) {
        const NetRscChain *c = &e->chains[i];

        fn(opaque, &c->out_hdr, c->buf, c->len);
    }
}

bool net_rsc_hold(NetRscEngine *e, const NetRscHdr *hdr,
                  const uint8_t *pkt, size_t len)
{
    NetRscChain *c;

    assert(!e->delivering);
    if (e->free_head == RSC_NONE || len == 0 || len > NET_RSC_BUF_MAX) {
        return false;
    }
    c = &e->chains[e->free_head];
    rsc_reserve(c, e, len);
    e->free_head = c->hnext;
    memcpy(c->buf, pkt, len);
    c->len = len;
    c->out_hdr = *hdr;
    rsc_enqueue(e, c);
    e->stalled = true;
    return true;
}

bool net_rsc_resume(NetRscEngine *e)
{
    assert(!e->delivering);
    return rsc_drain(e);
}

/*
 * Drop every unit and held packet, and give back every slot's buffer: a
 * reset engine holds no more memory than a new one.  Buffers grow again
 * on demand (rsc_reserve()), as after net_rsc_new(): net_rsc_hold() right
 * after a purge (a queue pair change moves held packets this way) and the
 * first packets of each slot allocate, the rest reuse.
 */
void net_rsc_purge(NetRscEngine *e)
{
    uint32_t i;

    assert(!e->delivering);
    while (e->oldest != RSC_NONE) {
        NetRscChain *c = &e->chains[e->oldest];
        rsc_unlink(e, c);
        rsc_release(e, c);
    }
    while (e->qhead != RSC_NONE) {
        NetRscChain *c = &e->chains[e->qhead];
        e->qhead = c->qnext;
        rsc_release(e, c);
    }
    e->qtail = RSC_NONE;
    e->closed = 0;
    e->stalled = false;
    e->refused_finalizer = false;
    /* free slots keep the buffers of units delivered before: those too */
    for (i = 0; i < e->cfg.max_flows; i++) {
        NetRscChain *c = &e->chains[i];

        g_free(c->buf);
        c->buf = NULL;
        c->cap = 0;
    }
    e->buf_bytes = 0;
}

bool net_rsc_stalled(const NetRscEngine *e)
{
    return e->stalled;
}

int64_t net_rsc_deadline(const NetRscEngine *e)
{
    return e->oldest == RSC_NONE ? INT64_MAX : e->chains[e->oldest].deadline;
}

uint32_t net_rsc_pending(const NetRscEngine *e)
{
    return e->open + e->closed;
}

const NetRscStats *net_rsc_stats(const NetRscEngine *e)
{
    return &e->stats;
}

static size_t rsc_fixed_bytes(const NetRscEngine *e)
{
    return sizeof(*e) + e->cfg.max_flows * sizeof(NetRscChain) +
           (e->bucket_mask + 1) * sizeof(int32_t);
}

size_t net_rsc_memory(const NetRscEngine *e)
{
    return rsc_fixed_bytes(e) + e->buf_bytes;
}

size_t net_rsc_memory_bound(const NetRscEngine *e)
{
    return rsc_fixed_bytes(e) + (size_t)e->cfg.max_flows * NET_RSC_BUF_MAX;
}

NetRscEngine *net_rsc_new(const NetRscConfig *cfg)
{
    NetRscEngine *e;
    uint32_t nbuckets = 1;
    uint32_t i, seed;

    if (!cfg->deliver || cfg->mode > NET_RSC_MODE_GSO ||
        cfg->max_flows < 1 || cfg->max_flows > NET_RSC_MAX_FLOWS ||
        cfg->interval_ns < 0) {
        return NULL;
    }
    while (nbuckets < cfg->max_flows * 2) {
        nbuckets *= 2;
    }

    e = g_new0(NetRscEngine, 1);
    e->cfg = *cfg;
    e->chains = g_new0(NetRscChain, cfg->max_flows);
    e->buckets = g_new(int32_t, nbuckets);
    e->bucket_mask = nbuckets - 1;
    for (i = 0; i < nbuckets; i++) {
        e->buckets[i] = RSC_NONE;
    }
    for (i = 0; i < cfg->max_flows; i++) {
        e->chains[i].hnext = i + 1 < cfg->max_flows ? i + 1 : RSC_NONE;
    }
    e->free_head = 0;
    e->oldest = e->newest = RSC_NONE;
    e->qhead = e->qtail = RSC_NONE;
    e->ipv4 = e->ipv6 = true;
    /* the hash's key words from the seed: splitmix32 */
    seed = cfg->hash_seed;
    for (i = 0; i < RSC_KEY_WORDS; i++) {
        uint32_t z;

        seed += 0x9e3779b9;
        z = seed;
        z = (z ^ (z >> 16)) * 0x21f0aaad;
        z = (z ^ (z >> 15)) * 0x735a2d97;
        e->hash_key[i] = z ^ (z >> 15);
    }
    return e;
}

void net_rsc_free(NetRscEngine *e)
{
    if (!e) {
        return;
    }
    net_rsc_purge(e);
    g_free(e->chains);
    g_free(e->buckets);
    g_free(e);
}
