/*
 * Minimal classic pcap reader and writer (no libpcap)
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TOOLS_PCAP_IO_H
#define TOOLS_PCAP_IO_H

#define PCAP_LINKTYPE_ETHERNET  1
/* Snapshot length written by PcapWriter: any coalesced frame fits */
#define PCAP_WRITER_SNAPLEN     262144
/*
 * Largest record the reader accepts, whatever the file header's snaplen
 * says: a corrupt length is refused before anything is allocated for it
 */
#define PCAP_MAX_RECORD         (1u << 20)

typedef struct PcapFrame {
    int64_t time_ns;        /* capture time, nanoseconds since the epoch */
    const uint8_t *data;    /* valid until the next record is read */
    uint32_t len;           /* bytes captured */
    uint32_t orig_len;      /* bytes on the wire, >= len */
    uint64_t index;         /* record number, from 0 */
    uint64_t offset;        /* file offset of its record header */
} PcapFrame;

typedef struct PcapReader PcapReader;
typedef struct PcapWriter PcapWriter;

/*
 * Open @path ("-": standard input) and check its file header (either byte
 * order, microsecond or nanosecond timestamps).  The file is read once,
 * front to back: a pipe will do.  Returns NULL with @errp set on failure.
 */
PcapReader *pcap_reader_open(const char *path, GError **errp);
uint32_t pcap_reader_linktype(const PcapReader *r);
bool pcap_reader_nsec(const PcapReader *r);

/*
 * Next record: 1 and @f filled, 0 at the end of the file, -1 with @errp set
 * if the record is invalid (truncated; captured length above
 * PCAP_MAX_RECORD, above the file's snaplen unless that is 0, or above the
 * original length; timestamp fraction out of range) or cannot be read.
 * A record whose original length exceeds its captured length (cut by the
 * snaplen) is returned as it is: the caller decides.
 */
int pcap_reader_next(PcapReader *r, PcapFrame *f, GError **errp);
void pcap_reader_close(PcapReader *r);

/* Create @path with a host-endian pcap header; NULL with @errp on failure */
PcapWriter *pcap_writer_open(const char *path, uint32_t linktype, bool nsec,
                             GError **errp);
/* Write errors are remembered and reported by pcap_writer_close() */
void pcap_writer_write(PcapWriter *w, int64_t time_ns,
                       const uint8_t *data, size_t len);
/* Close; false with @errp set if any write failed */
bool pcap_writer_close(PcapWriter *w, GError **errp);

#endif
