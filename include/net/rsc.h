/*
 * TCP receive segment coalescing (RSC) engine
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The engine merges consecutive TCP segments of a flow into one large packet
 * before it reaches the guest, the way a NIC does for a Windows guest that
 * negotiated VIRTIO_NET_F_RSC_EXT.  It knows nothing of QEMU devices: the
 * caller feeds it Ethernet frames with the current time, and it hands
 * finished packets to a delivery callback together with the virtio-net
 * header fields to write.
 *
 * Model
 * -----
 * A flow (IPv4 or IPv6 addresses plus TCP ports) has at most one open
 * coalesced unit, a NetRscChain.  Every fed frame is one of:
 *
 *   bypass    - not a TCP segment the engine can key (non-IP, non-TCP,
 *               non-first IPv4 fragment, VLAN tagged, malformed, IPv6
 *               extension headers it does not walk): delivered at once,
 *               untouched, even ahead of a unit of the same addresses
 *               and ports;
 *   candidate - an in-order data segment or window update that joins
 *               the flow's unit (or starts one);
 *   finalize  - a segment of a flow that must not be merged (SYN, FIN, RST,
 *               URG, ECE, CWR, AE or a reserved TCP flag, options other
 *               than timestamps, IPv4 options, IPv6 extension headers,
 *               fragments, bad checksum, already GSO, duplicate ACKs,
 *               other pure ACKs, a data segment in sequence with an
 *               older timestamp than its unit's, and an ECN field that
 *               differs from the unit's on a pure ACK, or on any segment
 *               in NET_RSC_MODE_GSO): the flow's unit is delivered
 *               first, then the segment, untouched.
 *
 * Duplicate ACKs
 * --------------
 * A duplicate ACK (a pure ACK with the ACK number and window of its flow's
 * unit) never joins it: it closes the unit and follows it alone, byte for
 * byte with its backend header.  It is not an exception (no abort).  Why:
 * Windows' NetKVM reads the duplicate ACK count from the header but hands
 * NDIS 0, so absorbed duplicate ACKs would be hidden from the guest's TCP
 * and its fast retransmit; Microsoft's RSC rules ("Duplicate ACK
 * Behavior/Exemption") say not to coalesce a duplicate ACK but to
 * finalize the current SCU and indicate it alone (NDIS disables RSC if a
 * segment with DupAckCount > 0 is indicated); QEMU's previous coalescer
 * and Linux GRO deliver them alone too.  A window update (same ACK number,
 * another window) is absorbed: the unit takes its window.
 *
 * A unit closes when a segment does not continue it (sequence gap, older
 * timestamp, other IP header fields, the 65535-byte IP datagram limit
 * counting the IPv6 header too), when net_rsc_poll() finds it has waited
 * interval_ns (what is fed before that call still joins), when its slot
 * is needed for a new flow (the oldest unit is delivered, never dropped)
 * or on net_rsc_flush().  A data segment that does not continue its unit
 * starts the flow's next one, but for one with an older timestamp, which
 * goes out alone: it may be an old duplicate that the guest's PAWS check
 * (RFC 7323) must see, and a unit it started would carry a later
 * segment's newer timestamp.  (The engine keeps nothing of a flow whose
 * unit has left, so such a segment arriving then starts a unit as any.)
 * A segment with PSH joins as any other but makes its unit due 1 ns after
 * its arrival: the rest of a receive burst fed before the caller's next
 * poll still joins, and the caller's timer delivers the unit right after
 * the burst.
 *
 * ECN
 * ---
 * In NET_RSC_MODE_RSC_EXT a data segment whose IP ECN field (ECT, CE)
 * differs from its unit's closes the unit at once and starts the next,
 * as at the size limit: Microsoft's rules have the miniport resume
 * coalescing with the segment that triggered exceptions 7 (size) and 8
 * (ECN).  So a run of CE marks (DCTCP marks runs) coalesces into units of
 * its own, each packet carrying the ECN field of all its segments, and
 * a mark is never held behind unmarked data.  It counts as an abort
 * (Microsoft's Aborts count every exception but the size limit), once,
 * when the unit closes, and not as finalized: the segment is not sent
 * alone.  One with a bad checksum still goes out alone.  A pure ACK with
 * another ECN field, and any segment with ECE or CWR in its TCP header,
 * finalize (see above).  NET_RSC_MODE_GSO follows Linux GRO, which
 * flushes on a TOS change and delivers the segment as it is: there a
 * segment with another ECN field finalizes.
 *
 * Back-pressure
 * -------------
 * The delivery callback may refuse a packet (no guest buffers).  The engine
 * then keeps that packet and every packet behind it, net_rsc_receive()
 * returns NET_RSC_STALLED without taking the frame, and the caller should
 * hold further frames (QEMU's net queue does so when receive returns 0)
 * until net_rsc_resume() returns true.  Nothing is dropped; per-flow order
 * is arrival order.  A GSO-mode packet still held when its IP version is
 * disabled (the guest switched the offload off meanwhile) is delivered as
 * the segments it was made of, without Ethernet padding, with complete
 * checksums and an all-zero header; an RSC packet as it is (its RSC_INFO
 * says what it is, and cutting it would not give back the segments
 * received).
 *
 * Output header contract
 * ----------------------
 * A packet made of a single fed frame, whatever path it took, is delivered
 * byte for byte as fed (Ethernet padding included) with the header the
 * backend gave (NetRscHdr all zero if it gave none).  One exception, in
 * NET_RSC_MODE_RSC_EXT only: a frame whose header has gso_type
 * NET_RSC_GSO_TCPV4 or NET_RSC_GSO_TCPV6 (NET_RSC_GSO_ECN set or not), a
 * packet the backend made large (host GRO, a local TSO sender), is a GSO
 * packet, and the virtio spec wants NET_RSC_F_RSC_INFO on every GSO
 * packet once RSC_EXT is negotiated.  Its header gets
 *   flags       | NET_RSC_F_RSC_INFO
 *   segments    ceil(TCP payload / gso_size), the payload found by parsing
 *               the headers (VLAN tags, IPv6 extension headers; not from
 *               hdr_len), the IP length clamped to the frame; 1 if
 *               gso_size is 0 or no TCP header is found; at most 65535
 *   dup_acks    0
 * and keeps every other field as the backend gave it; its bytes are
 * untouched.  Its checksum field holds the backend's partial
 * (pseudo-header) sum, as the spec asks with NEEDS_CSUM; with RSC_INFO the
 * driver locates it by parsing the headers, since the virtio header then
 * carries the two counts where csum_start and csum_offset would be.
 * It is still a finalizing frame, never merged.  GSO mode leaves such a
 * header alone (the spec forbids RSC_INFO without RSC_EXT), and other
 * GSO types (UDP) are left alone in both modes.
 *
 * A coalesced packet (a unit that absorbed more than its first frame) has
 *   flags       NET_RSC_F_NEEDS_CSUM | NET_RSC_F_RSC_INFO
 *   gso_type    NET_RSC_GSO_TCPV4 or NET_RSC_GSO_TCPV6
 *   gso_size    the largest TCP payload of its segments (the MSS seen)
 *   hdr_len     Ethernet + IP + TCP header bytes
 *   segments    number of data segments merged
 *   dup_acks    0: duplicate ACKs are never absorbed (see above); the
 *               field stays because virtio defines it
 * csum_start and csum_offset are not used: virtio carries segments and
 * dup_acks in those fields when RSC_INFO is set.  The IPv4 total length and
 * header checksum, or the IPv6 payload length, are recomputed; IPv4 ID is
 * the first segment's, TTL or hop limit the smallest seen; ACK, window and
 * timestamp option are the latest; PSH is set if any segment had it.
 * The TCP checksum field holds the complete, valid checksum of the
 * coalesced segment, so that whoever checks it finds it correct even
 * though NEEDS_CSUM is set (the spec requires NEEDS_CSUM with a GSO type,
 * and RSC_INFO reuses the fields that would locate a partial checksum).
 *
 * In NET_RSC_MODE_GSO (a guest that negotiated GUEST_TSO4/6 and GUEST_CSUM
 * but not RSC_EXT) the engine instead follows Linux GRO's rules, so that a
 * guest that forwards a coalesced packet re-segments it into exactly the
 * segments fed: only data segments join; ACK, window, TCP options, TTL or
 * hop limit must equal the unit's; the IPv4 ID must count up by one per
 * segment; every segment but the last carries gso_size bytes, and a
 * shorter segment or one with PSH or FIN (which joins, as in Linux GRO)
 * ends the unit at once.  Duplicate ACKs and window updates go out on
 * their own.  A coalesced packet then has
 *   flags       NET_RSC_F_NEEDS_CSUM
 *   gso_type    NET_RSC_GSO_TCPV4 or NET_RSC_GSO_TCPV6
 *   gso_size    the payload of its first segment
 *   hdr_len     Ethernet + IP + TCP header bytes
 *   csum_start  offset of the TCP header
 *   csum_offset 16, the TCP checksum field
 * and its TCP checksum field holds the folded pseudo-header sum (not
 * complemented), as the virtio spec asks of a device that sets NEEDS_CSUM
 * and as a sending stack leaves it for checksum offload: the guest may
 * trust the packet, and re-segmentation computes correct checksums.
 *
 * Checksums
 * ---------
 * A segment joins only if its IPv4 header checksum is valid and its TCP
 * checksum is valid or vouched for by the backend (DATA_VALID, or
 * NEEDS_CSUM for locally generated packets whose checksum is partial).
 * Otherwise it finalizes its flow and counts as an abort.
 *
 * Memory
 * ------
 * At most max_flows units exist at once.  Each unit owns one buffer that
 * grows (by doubling, at most NET_RSC_BUF_MAX bytes) the first times it is
 * used and is then reused: no allocation per packet, and
 * net_rsc_memory_bound() bytes at most, whatever a remote sender does.
 * net_rsc_purge() frees every buffer, so that a reset device holds what a
 * new engine holds (net_rsc_memory()); they grow again on demand.
 *
 * Not thread safe: one engine per receive queue, used under that queue's
 * lock (the BQL in QEMU).
 */

#ifndef NET_RSC_H
#define NET_RSC_H

/* virtio-net header values (virtio spec, struct virtio_net_hdr) */
#define NET_RSC_F_NEEDS_CSUM    1
#define NET_RSC_F_DATA_VALID    2
#define NET_RSC_F_RSC_INFO      4
#define NET_RSC_GSO_NONE        0
#define NET_RSC_GSO_TCPV4       1
#define NET_RSC_GSO_TCPV6       4
#define NET_RSC_GSO_ECN         0x80

/* Largest IP datagram a coalesced packet may form */
#define NET_RSC_MAX_IP_LEN      65535
/* Largest frame a unit's buffer holds: Ethernet header + IP datagram */
#define NET_RSC_BUF_MAX         (14 + NET_RSC_MAX_IP_LEN)

#define NET_RSC_DEFAULT_FLOWS   256
#define NET_RSC_MAX_FLOWS       16384
#define NET_RSC_DEFAULT_INTERVAL_NS 300000

/*
 * Host-endian view of a virtio-net header.  On input it is what the
 * backend gave; on output segments/dup_acks are meaningful only with
 * NET_RSC_F_RSC_INFO, and csum_start/csum_offset only without it.
 */
typedef struct NetRscHdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t segments;
    uint16_t dup_acks;
} NetRscHdr;

/*
 * Deliver one packet to the guest.  Return false to refuse it (no room):
 * the engine keeps it and stops.  @frame stays valid only for the call.
 * The callback must not call the engine's functions that change its state
 * (they assert): the engine is in the middle of its queue, and @frame is
 * one of its buffers.  In QEMU a guest can aim a receive buffer at the
 * device's own registers, so that writing the packet resets the device;
 * the caller has to refuse such re-entry before it reaches the engine.
 */
typedef bool NetRscDeliverFunc(void *opaque, const NetRscHdr *hdr,
                               const uint8_t *frame, size_t len);

/* What the guest accepts, and so which rules decide what joins a unit */
typedef enum NetRscMode {
    NET_RSC_MODE_RSC_EXT,   /* Microsoft's RSC rules, counts in RSC_INFO */
    NET_RSC_MODE_GSO,       /* Linux GRO's rules: plain GSO packets */
} NetRscMode;

typedef struct NetRscConfig {
    NetRscMode mode;
    uint32_t max_flows;     /* units held at once, 1..NET_RSC_MAX_FLOWS */
    int64_t interval_ns;    /* longest wait of a unit, >= 0 */
    uint32_t hash_seed;     /* flow hash key; random in production */
    NetRscDeliverFunc *deliver;
    void *opaque;
} NetRscConfig;

/* Counters; names after Microsoft's OID_TCP_RSC_STATISTICS where it has one */
typedef struct NetRscStats {
    uint64_t received;          /* frames fed and taken */
    /*
     * these three count coalesced packets of two or more data segments,
     * when they are delivered
     */
    uint64_t coalesced_pkts;    /* data segments merged into packets */
    uint64_t coalesced_octets;  /* their TCP payload bytes */
    uint64_t coalesce_events;   /* coalesced packets delivered */
    /*
     * exceptions met, all but the size limit: segments sent alone by an
     * exception rule (in finalized, or bypassed if their flow had no
     * unit, too), and in NET_RSC_MODE_RSC_EXT data segments whose ECN
     * field closed their unit and started the next (see ECN)
     */
    uint64_t aborts;
    uint64_t bypassed;          /* frames delivered at once, no unit involved */
    uint64_t finalized;         /* frames sent alone, closing their unit */
    /*
     * Duplicate ACKs (NET_RSC_MODE_RSC_EXT): pure ACKs taken that met their
     * flow's open unit with its ACK number and window, in sequence, with
     * valid checksums, and so closed it and went out alone (each is in
     * finalized too).  A pure ACK of a flow without a unit is bypassed and
     * not counted; in GSO mode no pure ACK is.
     */
    uint64_t dup_acks;
    uint64_t window_updates;    /* window updates absorbed */
    uint64_t delivered;         /* packets handed to the guest */
    uint64_t timer_drains;      /* units closed by interval expiry */
    uint64_t evictions;         /* units closed to free a slot */
    uint64_t size_limit;        /* units closed at the IP datagram limit */
    uint64_t refused;           /* deliveries the guest refused */
} NetRscStats;

typedef enum NetRscStatus {
    NET_RSC_TAKEN,      /* frame consumed: delivered or held in a unit */
    NET_RSC_STALLED,    /* guest refused; frame NOT taken, feed it again */
} NetRscStatus;

typedef struct NetRscEngine NetRscEngine;

/* Returns NULL if @cfg is out of range. */
NetRscEngine *net_rsc_new(const NetRscConfig *cfg);
void net_rsc_free(NetRscEngine *e);

/*
 * Feed one Ethernet frame received at @now_ns.  @hdr is the backend's
 * virtio-net header, or NULL if it has none.
 */
NetRscStatus net_rsc_receive(NetRscEngine *e, const NetRscHdr *hdr,
                             const uint8_t *frame, size_t len,
                             int64_t now_ns);

/*
 * Choose which IP versions are coalesced (both at creation).  Frames of a
 * disabled version bypass the engine; the caller flushes before disabling,
 * and what the guest then had no room for is cut up (see Back-pressure).
 */
void net_rsc_set_protocols(NetRscEngine *e, bool ipv4, bool ipv6);

/* Switch rules (NetRscMode); the caller flushes first. */
void net_rsc_set_mode(NetRscEngine *e, NetRscMode mode);

/* Close every unit whose interval has expired at @now_ns and deliver. */
void net_rsc_poll(NetRscEngine *e, int64_t now_ns);

/* Close every unit and deliver (RSC switched off, VM stopping). */
void net_rsc_flush(NetRscEngine *e);

/*
 * Migration.  net_rsc_seal() closes every unit into the queue of packets
 * waiting for the guest without delivering (the guest's memory may be
 * saved already); net_rsc_foreach_held() then lists that queue in order
 * (net_rsc_pending() packets).  On the destination, net_rsc_hold() appends
 * a packet to the queue and stalls the engine until net_rsc_resume()
 * delivers it; it fails if the packet is empty or larger than
 * NET_RSC_BUF_MAX, or if all max_flows slots are taken.  Neither engine
 * counts such a packet as coalesced: it was made on one and delivered by
 * the other.
 */
typedef void NetRscHeldFn(void *opaque, const NetRscHdr *hdr,
                          const uint8_t *pkt, size_t len);

void net_rsc_seal(NetRscEngine *e);
void net_rsc_foreach_held(const NetRscEngine *e, NetRscHeldFn *fn,
                          void *opaque);
bool net_rsc_hold(NetRscEngine *e, const NetRscHdr *hdr,
                  const uint8_t *pkt, size_t len);

/*
 * Drop every unit and held packet without delivering (device reset), and
 * free every unit's buffer: net_rsc_memory() is then that of a new
 * engine.  The engine works on as before; net_rsc_hold() may follow (to
 * move held packets between engines: seal, list, purge, hold).
 */
void net_rsc_purge(NetRscEngine *e);

/*
 * Retry delivery of held packets.  Returns true when none is left, i.e.
 * the engine takes frames again.
 */
bool net_rsc_resume(NetRscEngine *e);

bool net_rsc_stalled(const NetRscEngine *e);

/* Earliest time a unit expires, or INT64_MAX if none is open. */
int64_t net_rsc_deadline(const NetRscEngine *e);

/* Units open or waiting for delivery. */
uint32_t net_rsc_pending(const NetRscEngine *e);

const NetRscStats *net_rsc_stats(const NetRscEngine *e);

/* Bytes the engine holds now, and the most it can ever hold. */
size_t net_rsc_memory(const NetRscEngine *e);
size_t net_rsc_memory_bound(const NetRscEngine *e);

#endif
