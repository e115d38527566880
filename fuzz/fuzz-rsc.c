/*
 * libFuzzer target for the TCP receive segment coalescing (RSC) engine
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each input drives one fresh engine through rsc-oracle.c, which aborts
 * with a message on stderr when the engine breaks include/net/rsc.h.
 * Build and run: bash fuzz/run.sh SECONDS.
 *
 * Input encoding (constants in rsc-oracle.h; fuzz/make-corpus.py writes
 * it).  Multi-byte numbers are big endian; reads past the end give 0.
 *
 *   byte 0     bits 0-2: max_flows - 1 (1..8 units, so eviction happens);
 *              bit 3: the clock starts at INT64_MAX - 2^30 instead of 1 s;
 *              bit 4: GSO mode (NET_RSC_MODE_GSO) instead of RSC_EXT
 *   byte 1     interval_ns in units of 10 us (0..2.54 ms); 255: INT64_MAX
 *   byte 2     hash seed (the byte repeated 4 times)
 *   records    op byte, then its arguments; op values above 7 are taken
 *              modulo 6, so only 0x06 itself purges (7 came last: inputs
 *              made before keep their meaning, none has a 7 there)
 *
 *   0 FRAME    sel(1) [hdr args] body [pad args]
 *              sel bits 0-2, the virtio-net header given with the frame:
 *                0, 7  none (NULL)
 *                1     all zero
 *                2     DATA_VALID
 *                3     NEEDS_CSUM, csum_start at the TCP header, offset 16
 *                4     NEEDS_CSUM; args csum_start(2) csum_offset(2)
 *                5     GSO; args gso_type(1) gso_size(2) flags(1) (the
 *                      flags masked to NEEDS_CSUM | DATA_VALID; hdr_len
 *                      is set to the frame's header length)
 *                6     DATA_VALID | NEEDS_CSUM at the TCP header
 *              body: len(2) and len bytes (fewer if the input ends), or
 *              with sel bit 3 (REPEAT) the previous frame (before its
 *              padding) with the TCP sequence number advanced by its
 *              payload length, then args off(2) xor(1): byte off ^= xor;
 *              with sel bits 3 and 7 (COUNT), one more arg count(1): the
 *              record repeats count more times (patch on the first only;
 *              255 means 65535, enough for the 16-bit counters)
 *              sel bit 4 (FIXLEN): set the IPv4 total length / IPv6
 *              payload length from the body length
 *              sel bit 5 (FIXCSUM): set the IPv4 header checksum and the
 *              TCP checksum (pseudo-header only for header kinds 3 and 6)
 *              sel bit 6 (PAD): args pad(2) byte(1): append pad bytes
 *              The frame is queued behind any frames not yet taken and
 *              fed at once unless the engine stalled since the last
 *              successful RESUME.
 *   1 REFUSE_NEXT n(1)   the guest refuses the next n deliveries
 *   2 RESUME             net_rsc_resume(); if true, feed the queued
 *                        frames in order until one stalls
 *   3 POLL step(2)       clock += step * 100 ns; net_rsc_poll()
 *   4 FLUSH              net_rsc_flush()
 *   5 SET_PROTOCOLS v(1) net_rsc_flush(), then net_rsc_set_protocols(
 *                        v & 1, v & 2)
 *   6 PURGE              net_rsc_purge() (held frames count as dropped)
 *   7 MIGRATE            net_rsc_seal(), net_rsc_foreach_held(),
 *                        net_rsc_purge(), then net_rsc_hold() of each
 *                        packet into the other of two engines, which
 *                        carries on (the first time a fresh one): what
 *                        virtio-net does on a migration's destination and
 *                        when a queue pair goes out of use
 *
 * Once the frames made add up to more than RSC_FUZZ_MAX_BYTES (4 MiB) or
 * RSC_FUZZ_MAX_FRAMES (70000), the rest of the input is ignored, to bound
 * time and memory.
 *
 * At the end of the input the guest accepts everything: RESUME, feed the
 * queue, FLUSH, then check that nothing is pending and every frame taken
 * came out exactly once.
 */

#include "qemu/osdep.h"
#include "rsc-oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rsc_oracle_run(data, size);
    return 0;
}
