/*
 * Minimal classic pcap reader and writer (no libpcap)
 *
 * Copyright (c) 2026 The QEMU virtio-net RSC authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <inttypes.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include "pcap-io.h"

#define PCAP_MAGIC_USEC         0xa1b2c3d4u
#define PCAP_MAGIC_NSEC         0xa1b23c4du
#define PCAPNG_MAGIC            0x0a0d0d0au
#define PCAP_FILE_HDR_LEN       24
#define PCAP_REC_HDR_LEN        16

/*
 * The file is read, not mapped: a file truncated while it is read (by
 * another process, or because it is also an output) then shows as a
 * truncated record instead of SIGBUS.  Only the current record is held.
 */
struct PcapReader {
    char *path;
    FILE *f;
    uint8_t *buf;
    size_t buf_size;
    uint64_t off;               /* file offset of the next record */
    bool swap;
    bool nsec;
    uint32_t snaplen;
    uint32_t linktype;
    uint64_t index;
};

struct PcapWriter {
    char *path;
    FILE *f;
    bool nsec;
    int err;
};

static GQuark pcap_io_quark(void)
{
    return g_quark_from_static_string("pcap-io");
}

static uint32_t pcap_ld32(const PcapReader *r, const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return r->swap ? GUINT32_SWAP_LE_BE(v) : v;
}

static uint16_t pcap_ld16(const PcapReader *r, const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, 2);
    return r->swap ? GUINT16_SWAP_LE_BE(v) : v;
}

/*
 * Read @len bytes.  Returns the number read, short only at the end of the
 * file; -1 with @errp set on a read error.
 */
static ssize_t pcap_read(PcapReader *r, void *p, size_t len, GError **errp)
{
    size_t n = fread(p, 1, len, r->f);

    if (n < len && ferror(r->f)) {
        int err = errno ? errno : EIO;

        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(err),
                    "%s: read error at offset %" PRIu64 ": %s", r->path,
                    r->off, g_strerror(err));
        return -1;
    }
    return n;
}

PcapReader *pcap_reader_open(const char *path, GError **errp)
{
    uint8_t hdr[PCAP_FILE_HDR_LEN];
    PcapReader *r;
    uint32_t magic;
    uint16_t major;
    struct stat st;
    ssize_t n;
    FILE *f;
    int fd;

    /* "-" reads standard input: a pipe from tcpdump -w - works */
    if (!strcmp(path, "-")) {
        path = "standard input";
        fd = dup(STDIN_FILENO);
    } else {
        fd = open(path, O_RDONLY);
    }
    if (fd < 0) {
        int err = errno;
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(err),
                    "%s: %s", path, g_strerror(err));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        int err = errno;
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(err),
                    "%s: %s", path, g_strerror(err));
        close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        g_set_error(errp, pcap_io_quark(), 0, "%s: is a directory", path);
        close(fd);
        return NULL;
    }
    f = fdopen(fd, "rb");
    if (!f) {
        int err = errno;
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(err),
                    "%s: %s", path, g_strerror(err));
        close(fd);
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 18);
    r = g_new0(PcapReader, 1);
    r->path = g_strdup(path);
    r->f = f;
    r->buf_size = 2048;
    r->buf = g_malloc(r->buf_size);

    n = pcap_read(r, hdr, sizeof(hdr), errp);
    if (n < 0) {
        goto fail;
    }
    if (n < PCAP_FILE_HDR_LEN) {
        g_set_error(errp, pcap_io_quark(), 0,
                    "%s: too short for a pcap file header (%zd bytes)",
                    path, n);
        goto fail;
    }
    memcpy(&magic, hdr, 4);
    if (magic == PCAP_MAGIC_USEC || magic == PCAP_MAGIC_NSEC) {
        r->swap = false;
    } else if (GUINT32_SWAP_LE_BE(magic) == PCAP_MAGIC_USEC ||
               GUINT32_SWAP_LE_BE(magic) == PCAP_MAGIC_NSEC) {
        r->swap = true;
        magic = GUINT32_SWAP_LE_BE(magic);
    } else if (magic == PCAPNG_MAGIC) {
        g_set_error(errp, pcap_io_quark(), 0,
                    "%s: pcapng is not supported, only classic pcap "
                    "(convert with: editcap -F pcap IN OUT)", path);
        goto fail;
    } else {
        g_set_error(errp, pcap_io_quark(), 0,
                    "%s: not a pcap file (starts with %02x %02x %02x %02x)",
                    path, hdr[0], hdr[1], hdr[2], hdr[3]);
        goto fail;
    }
    r->nsec = magic == PCAP_MAGIC_NSEC;
    major = pcap_ld16(r, hdr + 4);
    if (major != 2) {
        g_set_error(errp, pcap_io_quark(), 0,
                    "%s: unsupported pcap version %u", path, major);
        goto fail;
    }
    r->snaplen = pcap_ld32(r, hdr + 16);
    /* the upper bits of the link type field carry FCS information */
    r->linktype = pcap_ld32(r, hdr + 20) & 0xffff;
    r->off = PCAP_FILE_HDR_LEN;
    return r;

fail:
    pcap_reader_close(r);
    return NULL;
}

uint32_t pcap_reader_linktype(const PcapReader *r)
{
    return r->linktype;
}

bool pcap_reader_nsec(const PcapReader *r)
{
    return r->nsec;
}

static void G_GNUC_PRINTF(3, 4) pcap_record_error(PcapReader *r,
                                                  GError **errp,
                                                  const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, pcap_io_quark(), 0, "%s: record %" PRIu64
                " at offset %" PRIu64 ": %s", r->path, r->index, r->off,
                msg);
}

int pcap_reader_next(PcapReader *r, PcapFrame *f, GError **errp)
{
    uint8_t h[PCAP_REC_HDR_LEN];
    uint32_t sec, frac, incl, orig;
    ssize_t n;

    n = pcap_read(r, h, sizeof(h), errp);
    if (n <= 0) {
        return n;
    }
    if (n < PCAP_REC_HDR_LEN) {
        pcap_record_error(r, errp, "truncated header (%zd of %d bytes)",
                          n, PCAP_REC_HDR_LEN);
        return -1;
    }
    sec = pcap_ld32(r, h);
    frac = pcap_ld32(r, h + 4);
    incl = pcap_ld32(r, h + 8);
    orig = pcap_ld32(r, h + 12);
    if (frac >= (r->nsec ? 1000000000u : 1000000u)) {
        pcap_record_error(r, errp, "invalid timestamp fraction %u", frac);
        return -1;
    }
    /* checked before anything is allocated for the record */
    if (incl > PCAP_MAX_RECORD) {
        pcap_record_error(r, errp, "captured length %u exceeds the "
                          "largest record accepted (%u)", incl,
                          PCAP_MAX_RECORD);
        return -1;
    }
    if (r->snaplen && incl > r->snaplen) {
        pcap_record_error(r, errp, "captured length %u exceeds the "
                          "file's snaplen %u", incl, r->snaplen);
        return -1;
    }
    if (orig < incl) {
        pcap_record_error(r, errp, "original length %u is less than the "
                          "captured length %u", orig, incl);
        return -1;
    }
    if (incl > r->buf_size) {
        r->buf_size = MAX(incl, r->buf_size * 2);
        r->buf_size = MIN(r->buf_size, PCAP_MAX_RECORD);
        r->buf = g_realloc(r->buf, r->buf_size);
    }
    n = pcap_read(r, r->buf, incl, errp);
    if (n < 0) {
        return -1;
    }
    if (n < incl) {
        pcap_record_error(r, errp, "truncated (%u bytes announced, %zd "
                          "present)", incl, n);
        return -1;
    }
    f->time_ns = (int64_t)sec * 1000000000 +
                 (r->nsec ? frac : (int64_t)frac * 1000);
    f->data = r->buf;
    f->len = incl;
    f->orig_len = orig;
    f->index = r->index;
    f->offset = r->off;
    r->off += PCAP_REC_HDR_LEN + incl;
    r->index++;
    return 1;
}

void pcap_reader_close(PcapReader *r)
{
    if (!r) {
        return;
    }
    fclose(r->f);
    g_free(r->buf);
    g_free(r->path);
    g_free(r);
}

static void pcap_writer_put(PcapWriter *w, const void *p, size_t len)
{
    if (!w->err && fwrite(p, 1, len, w->f) != len) {
        w->err = errno ? errno : EIO;
    }
}

PcapWriter *pcap_writer_open(const char *path, uint32_t linktype, bool nsec,
                             GError **errp)
{
    PcapWriter *w;
    /* little-endian whatever the host, so that outputs compare equal */
    uint32_t hdr[6];
    uint16_t ver[2] = { GUINT16_TO_LE(2), GUINT16_TO_LE(4) };
    FILE *f;

    f = fopen(path, "wb");
    if (!f) {
        int err = errno;
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(err),
                    "%s: %s", path, g_strerror(err));
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    w = g_new0(PcapWriter, 1);
    w->path = g_strdup(path);
    w->f = f;
    w->nsec = nsec;

    hdr[0] = GUINT32_TO_LE(nsec ? PCAP_MAGIC_NSEC : PCAP_MAGIC_USEC);
    memcpy(&hdr[1], ver, sizeof(ver));
    hdr[2] = 0;     /* thiszone */
    hdr[3] = 0;     /* sigfigs */
    hdr[4] = GUINT32_TO_LE(PCAP_WRITER_SNAPLEN);
    hdr[5] = GUINT32_TO_LE(linktype);
    pcap_writer_put(w, hdr, sizeof(hdr));
    return w;
}

void pcap_writer_write(PcapWriter *w, int64_t time_ns,
                       const uint8_t *data, size_t len)
{
    uint32_t rec[4];

    time_ns = MAX(time_ns, 0);
    rec[0] = GUINT32_TO_LE(time_ns / 1000000000);
    rec[1] = time_ns % 1000000000;
    if (!w->nsec) {
        rec[1] /= 1000;
    }
    rec[1] = GUINT32_TO_LE(rec[1]);
    rec[2] = GUINT32_TO_LE(len);
    rec[3] = GUINT32_TO_LE(len);
    pcap_writer_put(w, rec, sizeof(rec));
    pcap_writer_put(w, data, len);
}

bool pcap_writer_close(PcapWriter *w, GError **errp)
{
    bool ok;

    if (fclose(w->f) && !w->err) {
        w->err = errno ? errno : EIO;
    }
    ok = !w->err;
    if (!ok) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(w->err),
                    "%s: %s", w->path, g_strerror(w->err));
    }
    g_free(w->path);
    g_free(w);
    return ok;
}
