/*
 * Ethernet/IPv4/IPv6/TCP frame builder for the RSC engine's unit tests
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Builds well-formed frames with correct checksums from a description
 * (RscFrameSpec), and can make them deliberately wrong: bad checksums,
 * IPv4 options, IPv6 extension headers, fragments, VLAN tags, Ethernet
 * padding.  Parses TCP frames.  The Internet checksum and the flow key
 * serve the fuzzing oracle (fuzz/rsc-oracle.c) and tools/rsc-replay too.
 * Independent of the engine: nothing here calls net/rsc.h.
 */

#ifndef TESTS_UNIT_RSC_FRAMES_H
#define TESTS_UNIT_RSC_FRAMES_H

#define RSC_TCP_FIN     0x01
#define RSC_TCP_SYN     0x02
#define RSC_TCP_RST     0x04
#define RSC_TCP_PSH     0x08
#define RSC_TCP_ACK     0x10
#define RSC_TCP_URG     0x20
#define RSC_TCP_ECE     0x40
#define RSC_TCP_CWR     0x80

#define RSC_ETH_HLEN    14
#define RSC_ETH_P_IP    0x0800
#define RSC_ETH_P_ARP   0x0806
#define RSC_ETH_P_VLAN  0x8100
#define RSC_ETH_P_IPV6  0x86dd

#define RSC_IP_DF       0x4000
#define RSC_IP_MF       0x2000

#define RSC_IPPROTO_ICMP    1
#define RSC_IPPROTO_TCP     6
#define RSC_IPPROTO_UDP     17
#define RSC_IPPROTO_ICMPV6  58

/* IPv6 extension header types rsc_frame_build() can insert */
#define RSC_IPV6_HOPOPTS    0
#define RSC_IPV6_ROUTING    43
#define RSC_IPV6_FRAGMENT   44
#define RSC_IPV6_DSTOPTS    60

typedef enum RscCsumMode {
    RSC_CSUM_OK,        /* complete, valid checksum */
    RSC_CSUM_BAD,       /* valid checksum with bits flipped */
    RSC_CSUM_PARTIAL,   /* pseudo-header sum only (NEEDS_CSUM style) */
} RscCsumMode;

typedef enum RscL4 {
    RSC_L4_TCP,
    RSC_L4_UDP,
    RSC_L4_RAW,         /* payload right after the IP headers */
} RscL4;

typedef struct RscFrameSpec {
    int ip_version;             /* 4 or 6 */
    uint8_t src_mac_last;       /* XORed into the source MAC's last byte */
    bool vlan;                  /* insert an 802.1Q tag */
    uint16_t vlan_tci;

    uint8_t ip_src[16];         /* IPv4 uses the first 4 bytes */
    uint8_t ip_dst[16];
    uint8_t tos;                /* IPv4 TOS / IPv6 traffic class, with ECN */
    uint8_t ttl;                /* IPv4 TTL / IPv6 hop limit */
    uint16_t ip_id;             /* IPv4 only */
    uint16_t frag;              /* IPv4 flags and fragment offset field */
    uint32_t flow_label;        /* IPv6 only, 20 bits */
    uint8_t ip_opts[40];        /* IPv4 options, multiple of 4 bytes */
    size_t ip_opts_len;
    int ext_hdr;                /* IPv6 extension header type, -1 for none */
    uint16_t ext_frag;          /* fragment offset/M field if ext_hdr is 44 */
    bool bad_ip_csum;           /* IPv4 header checksum wrong */

    RscL4 l4;
    uint8_t ip_proto;           /* protocol number for RSC_L4_RAW */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t tcp_flags;
    uint8_t tcp_flags_hi;       /* AE and reserved bits: TCP byte 12, 0..15 */
    uint16_t window;
    uint16_t urg_ptr;
    bool ts;                    /* NOP NOP timestamp option first */
    uint32_t tsval, tsecr;
    uint8_t tcp_opts[40];       /* raw options after the timestamps */
    size_t tcp_opts_len;        /* padded with EOL to a multiple of 4 */
    RscCsumMode l4_csum;

    /* NULL: byte i is rsc_frame_pattern(seq + i) */
    const uint8_t *payload;
    size_t payload_len;

    size_t min_len;             /* pad the frame to this length ... */
    uint8_t pad_byte;           /* ... with this byte */
} RscFrameSpec;

/* Initial sequence number rsc_frame_spec_init() gives flow @flow */
#define RSC_FRAME_ISN(flow)     (0x10000000u + (uint32_t)(flow) * 0x00f00007u)
#define RSC_FRAME_ACK           0x20000000u
#define RSC_FRAME_WINDOW        502
#define RSC_FRAME_TSVAL         1000
#define RSC_FRAME_TSECR         5000
#define RSC_FRAME_SPORT(flow)   (40000 + (flow))
#define RSC_FRAME_DPORT         5201

/*
 * A TCP ACK segment of flow @flow (addresses and source port derived from
 * it), no options, no payload, TTL 64, DF, valid checksums.
 */
void rsc_frame_spec_init(RscFrameSpec *s, int ip_version, unsigned flow);

GByteArray *rsc_frame_build(const RscFrameSpec *s);

/* A 60-byte ARP request */
GByteArray *rsc_frame_arp(void);

/* Payload byte carried at TCP sequence number @seq */
uint8_t rsc_frame_pattern(uint32_t seq);

/* Offsets of the IP header, of the L4 header, of the payload */
size_t rsc_frame_l3_offset(const RscFrameSpec *s);
size_t rsc_frame_l4_offset(const RscFrameSpec *s);
size_t rsc_frame_hdr_len(const RscFrameSpec *s);

/* Recompute the IPv4 header checksum of a frame after editing it */
void rsc_frame_ipv4_fix_csum(uint8_t *frame, size_t l3_off);

/*
 * Internet checksum, written independently of the engine's: big-endian
 * 16-bit words summed in 64 bits, kept unfolded.  A sum may be built from
 * several chunks; only the last one may have an odd length.  A packet
 * whose checksum field is right sums (folded) to 0xffff; the value to
 * store is ~rsc_csum_fold() of the sum with that field zero.
 */
uint64_t rsc_csum_add(uint64_t sum, const uint8_t *p, size_t len);
uint16_t rsc_csum_fold(uint64_t sum);

/*
 * Sum of the TCP/UDP pseudo-header: addresses @src and @dst (4 bytes each
 * if @ip_version is 4, else 16), protocol @proto, L4 length @l4_len
 */
uint64_t rsc_csum_pseudo(int ip_version, const uint8_t *src,
                         const uint8_t *dst, uint8_t proto, uint32_t l4_len);

/*
 * One direction of a TCP connection, as the engine keys it: a GHashTable
 * key for the programs that check the engine's output.  Zero it before
 * filling it in; IPv4 addresses use the first 4 bytes of @src and @dst.
 */
typedef struct RscFlowKey {
    uint8_t ipv6;
    uint8_t pad;
    uint16_t sport;
    uint16_t dport;
    uint8_t src[16];
    uint8_t dst[16];
} RscFlowKey;

/* GHashFunc (FNV-1a over the bytes) and GEqualFunc of RscFlowKey */
guint rsc_flow_key_hash(gconstpointer key);
gboolean rsc_flow_key_equal(gconstpointer a, gconstpointer b);

typedef struct RscFrameInfo {
    int ip_version;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t window;
    uint8_t tos, ttl;
    size_t l3_off, l4_off;
    size_t payload_off, payload_len;
    size_t ip_len;              /* IPv4 total length, IPv6 40 + payload */
    bool ts;
    uint32_t tsval, tsecr;
    bool ip_csum_ok;            /* IPv4 header checksum (true for IPv6) */
    bool tcp_csum_ok;
} RscFrameInfo;

/*
 * Parse an untagged or VLAN tagged IPv4/IPv6 TCP frame without extension
 * headers.  Returns false if @f is not one.
 */
bool rsc_frame_parse(const uint8_t *f, size_t len, RscFrameInfo *info);

/*
 * Cut GSO packet @pkt (no Ethernet padding) into the TCP segments a
 * guest's segmentation makes of it, as Linux's TCP GSO does: the headers
 * copied in front of each @gso_size-byte piece of payload, the sequence
 * number advanced, the IPv4 ID counted up by one per piece, lengths and
 * checksums recomputed (the packet's own TCP checksum field is ignored),
 * FIN and PSH kept on the last piece only, CWR on the first only.
 * Returns the segments as GByteArrays; none if @pkt is no TCP packet.
 */
GPtrArray *rsc_frame_gso_split(const uint8_t *pkt, size_t len,
                               size_t gso_size);

#endif
