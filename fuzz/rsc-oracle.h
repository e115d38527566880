/*
 * Oracle for the RSC engine fuzzer and its replay test
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * rsc_oracle_run() runs one input (the encoding is described in
 * fuzz-rsc.c) through a fresh engine, playing the backend, the guest and
 * QEMU's net queue, and checks everything the engine delivers against
 * include/net/rsc.h.  Used by the libFuzzer target fuzz-rsc and by the
 * plain test program fuzz-replay.
 */

#ifndef FUZZ_RSC_ORACLE_H
#define FUZZ_RSC_ORACLE_H

/* Configuration bytes at the start of an input */
#define RSC_FUZZ_CONFIG_LEN     3
#define RSC_FUZZ_CFG_FLOWS      0x07    /* byte 0: max_flows - 1 */
#define RSC_FUZZ_CFG_BIG_CLOCK  0x08    /* byte 0: clock starts near max */
#define RSC_FUZZ_CFG_GSO        0x10    /* byte 0: NET_RSC_MODE_GSO */
#define RSC_FUZZ_INTERVAL_UNIT  10000   /* byte 1: interval, 10 us units */
#define RSC_FUZZ_INTERVAL_MAX   0xff    /* byte 1 value: INT64_MAX */
#define RSC_FUZZ_POLL_UNIT      100     /* POLL step, ns per unit */

/* Frame bytes and frames an input may make; then it ends */
#define RSC_FUZZ_MAX_BYTES      (4 << 20)
#define RSC_FUZZ_MAX_FRAMES     70000

/*
 * Record opcodes; values above RSC_FUZZ_OP_MIGRATE are taken modulo
 * RSC_FUZZ_OP_PURGE (MIGRATE came last, inputs made before keep meaning)
 */
enum {
    RSC_FUZZ_OP_FRAME = 0,
    RSC_FUZZ_OP_REFUSE_NEXT = 1,
    RSC_FUZZ_OP_RESUME = 2,
    RSC_FUZZ_OP_POLL = 3,
    RSC_FUZZ_OP_FLUSH = 4,
    RSC_FUZZ_OP_SET_PROTOCOLS = 5,
    RSC_FUZZ_OP_PURGE = 6,
    RSC_FUZZ_OP_MIGRATE = 7,
};

/* FRAME selector byte: virtio-net header kind (low 3 bits) ... */
enum {
    RSC_FUZZ_HDR_NULL = 0,          /* no header (NULL) */
    RSC_FUZZ_HDR_ZERO = 1,          /* all-zero header */
    RSC_FUZZ_HDR_DATA_VALID = 2,
    RSC_FUZZ_HDR_PARTIAL = 3,       /* NEEDS_CSUM at the TCP header */
    RSC_FUZZ_HDR_CSUM = 4,          /* NEEDS_CSUM, start/offset given */
    RSC_FUZZ_HDR_GSO = 5,           /* gso_type, gso_size, flags given */
    RSC_FUZZ_HDR_VALID_PARTIAL = 6, /* DATA_VALID | NEEDS_CSUM at TCP */
    RSC_FUZZ_HDR_NULL2 = 7,         /* same as RSC_FUZZ_HDR_NULL */
};
#define RSC_FUZZ_SEL_HDR        0x07
/* ... and flags */
#define RSC_FUZZ_SEL_REPEAT     0x08    /* previous frame, next sequence */
#define RSC_FUZZ_SEL_FIXLEN     0x10    /* set IP lengths from the frame */
#define RSC_FUZZ_SEL_FIXCSUM    0x20    /* set IPv4 and TCP checksums */
#define RSC_FUZZ_SEL_PAD        0x40    /* append padding */
#define RSC_FUZZ_SEL_COUNT      0x80    /* with REPEAT: count(1) more */
#define RSC_FUZZ_COUNT_MANY     0xff    /* count value meaning 65535 */

/* SET_PROTOCOLS argument bits */
#define RSC_FUZZ_PROTO_IPV4     0x01
#define RSC_FUZZ_PROTO_IPV6     0x02

/*
 * Called with the message on an oracle violation; must not return (the
 * default, NULL, means abort()).
 */
typedef void RscOracleFailFunc(const char *msg);

void rsc_oracle_set_fail_handler(RscOracleFailFunc *fn);

/* Log every operation and delivery on stderr */
void rsc_oracle_set_verbose(bool verbose);

/* Run and check one input */
void rsc_oracle_run(const uint8_t *data, size_t size);

/* libFuzzer's entry point, in fuzz-rsc.c */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
