/*
 * Stand-in for QEMU's qemu/bswap.h: the big-endian load/store helpers the
 * RSC engine uses.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef STANDALONE_QEMU_BSWAP_H
#define STANDALONE_QEMU_BSWAP_H

static inline int lduw_be_p(const void *ptr)
{
    const uint8_t *p = ptr;
    return (p[0] << 8) | p[1];
}

static inline uint32_t ldl_be_p(const void *ptr)
{
    uint32_t v;
    memcpy(&v, ptr, 4);
    return GUINT32_FROM_BE(v);
}

static inline void stw_be_p(void *ptr, uint16_t v)
{
    uint8_t *p = ptr;
    p[0] = v >> 8;
    p[1] = v;
}

static inline void stl_be_p(void *ptr, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    memcpy(ptr, &v, 4);
}

#endif
