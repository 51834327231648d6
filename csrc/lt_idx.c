/* lt_idx.c: IDX (MNIST-style) files through zlib's gz* interface, which reads gzip and
 * plain files alike. The gzFile never outlives one call; only regular files are opened. */
#include "lt_idx.h"
#include "lt_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* deflate expands at most 1032:1; a gzip member also has an 18-byte frame */
#define IDX_GZ_MAX_RATIO 1032

static int elem_size(int code) {
    switch (code) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    }
    return 0;
}

/* Opens a regular file (never blocks on a FIFO or device) as a gzFile; *file_size receives
 * its size on disk. */
static gzFile open_gz(const char *path, int64_t *file_size, char *err, size_t errlen) {
    int fd = lt_file_open(path, file_size, err, errlen);
    if (fd < 0) return NULL;
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);                                  /* gzdopen leaves fd open on failure */
        snprintf(err, errlen, "cannot open '%s': out of memory", path);
    }
    return f;
}

/* zlib's gzerror text is "<fd:N>: message" (gzdopen); keep the message. */
static const char *gz_msg(gzFile f, const char *path, int *zerr) {
    (void)path;
    const char *msg = gzerror(f, zerr);
    if (!msg) return "read error";
    if (strncmp(msg, "<fd:", 4) == 0) {
        const char *p = strstr(msg, ">: ");
        if (p) msg = p + 3;
    }
    return msg;
}

/* Reads exactly n bytes; a short read is a truncated or corrupt file. */
static lt_status read_exact(gzFile f, void *dst, size_t n, const char *path, char *err,
                            size_t errlen) {
    uint8_t *p = (uint8_t *)dst;
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done > (1u << 30) ? (1u << 30) : n - done;
        int got = gzread(f, p + done, (unsigned)chunk);
        if (got < 0) {
            int zerr = 0;
            const char *msg = gz_msg(f, path, &zerr);
            snprintf(err, errlen, "'%s' is corrupt: %s", path, msg);
            return LT_EARG;
        }
        if (got == 0) {
            int zerr = 0;
            const char *msg = gz_msg(f, path, &zerr);
            if (zerr != Z_OK && zerr != Z_BUF_ERROR)
                snprintf(err, errlen, "'%s' is corrupt: %s", path, msg);
            else
                snprintf(err, errlen, "'%s' is truncated (expected %zu more bytes)", path,
                         n - done);
            return LT_EARG;
        }
        done += (size_t)got;
    }
    return LT_OK;
}

static void dims_str(const lt_idx_header *hd, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < hd->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)hd->size[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* The header's dimensions against the file: the element bytes must fit in int64 and in the
 * file (plain), or in what its compressed size can expand to (gzip). */
static lt_status check_claim(const lt_idx_header *hd, int direct, int64_t file_size,
                             const char *path, char *err, size_t errlen) {
    char dims[LT_MAXDIM * 16 + 8];
    dims_str(hd, dims, sizeof dims);
    int64_t bytes = elem_size(hd->code), out = (int64_t)lt_dtype_size(hd->dtype);
    for (int d = 0; d < hd->ndim; d++)
        if (lt_mul_ovf(bytes, hd->size[d], &bytes) || lt_mul_ovf(out, hd->size[d], &out)) {
            snprintf(err, errlen, "'%s' is corrupt: header claims dimensions %s, more than 2^63 bytes",
                     path, dims);
            return LT_EOVERFLOW;
        }
    int64_t room = file_size - (int64_t)hd->header_bytes;
    if (direct && bytes > room) {   /* the message the data read would give, before allocating */
        snprintf(err, errlen, "'%s' is truncated (expected %lld more bytes)", path,
                 (long long)(bytes - (room > 0 ? room : 0)));
        return LT_EARG;
    }
    if (!direct && bytes / IDX_GZ_MAX_RATIO > file_size) {
        snprintf(err, errlen,
                 "'%s' is truncated or corrupt: header claims dimensions %s (%lld bytes of "
                 "data), more than a %lld-byte gzip file can hold", path, dims, (long long)bytes,
                 (long long)file_size);
        return LT_EARG;
    }
    return LT_OK;
}

lt_status lt_idx_read_header(lt_idx_header *hd, const char *path, char *err, size_t errlen) {
    memset(hd, 0, sizeof *hd);
    int64_t file_size;
    gzFile f = open_gz(path, &file_size, err, errlen);
    if (!f) return LT_EARG;
    uint8_t magic[4];
    lt_status st = read_exact(f, magic, 4, path, err, errlen);
    if (st == LT_OK && (magic[0] != 0 || magic[1] != 0 || elem_size(magic[2]) == 0 ||
                        magic[3] < 1 || magic[3] > LT_MAXDIM)) {
        snprintf(err, errlen, "'%s' is not an IDX file (bad magic %02x %02x %02x %02x)", path,
                 magic[0], magic[1], magic[2], magic[3]);
        st = LT_EARG;
    }
    if (st == LT_OK) {
        hd->code = magic[2];
        hd->ndim = magic[3];
        hd->dtype = hd->code == 0x08 ? LT_UINT8
                    : (hd->code == 0x0D || hd->code == 0x0E) ? LT_FLOAT32 : LT_INT32;
        uint8_t dims[4 * LT_MAXDIM];
        st = read_exact(f, dims, 4u * (size_t)hd->ndim, path, err, errlen);
        for (int d = 0; st == LT_OK && d < hd->ndim; d++) {
            hd->size[d] = (int64_t)((uint32_t)dims[4 * d] << 24 | (uint32_t)dims[4 * d + 1] << 16 |
                                    (uint32_t)dims[4 * d + 2] << 8 | dims[4 * d + 3]);
        }
        hd->header_bytes = 4u + 4u * (size_t)hd->ndim;
    }
    if (st == LT_OK) st = check_claim(hd, gzdirect(f), file_size, path, err, errlen);
    gzclose(f);
    return st;
}

size_t lt_idx_nbytes(const lt_idx_header *hd) {   /* fits: lt_idx_read_header checked it */
    size_t n = lt_dtype_size(hd->dtype);
    for (int d = 0; d < hd->ndim; d++) n *= (size_t)hd->size[d];
    return n;
}

lt_status lt_idx_read_data(void *out, const lt_idx_header *hd, const char *path, char *err,
                           size_t errlen) {
    size_t count = 1;
    for (int d = 0; d < hd->ndim; d++) count *= (size_t)hd->size[d];   /* checked by the header */
    size_t es = (size_t)elem_size(hd->code);
    int64_t file_size;
    gzFile f = open_gz(path, &file_size, err, errlen);
    if (!f) return LT_EARG;
    uint8_t again[4 + 4 * LT_MAXDIM];
    lt_status st = read_exact(f, again, hd->header_bytes, path, err, errlen);
    if (st == LT_OK) {   /* the file may have been replaced since lt_idx_read_header */
        lt_idx_header now;
        memset(&now, 0, sizeof now);
        now.code = again[2];
        now.ndim = again[3];
        for (int d = 0; d < hd->ndim && now.ndim == hd->ndim; d++)
            now.size[d] = (int64_t)((uint32_t)again[4 + 4 * d] << 24 | (uint32_t)again[5 + 4 * d] << 16 |
                                    (uint32_t)again[6 + 4 * d] << 8 | again[7 + 4 * d]);
        if (now.code != hd->code || now.ndim != hd->ndim ||
            memcmp(now.size, hd->size, sizeof hd->size) != 0) {
            snprintf(err, errlen, "'%s' changed while it was being read", path);
            st = LT_EARG;
        }
    }
    if (st == LT_OK && hd->code == 0x08) {
        st = read_exact(f, out, count, path, err, errlen);
    } else if (st == LT_OK) {
        /* convert in blocks through a small stack buffer */
        uint8_t blk[8 * 4096];
        size_t done = 0;
        while (st == LT_OK && done < count) {
            size_t n = count - done > 4096 ? 4096 : count - done;
            st = read_exact(f, blk, n * es, path, err, errlen);
            for (size_t i = 0; st == LT_OK && i < n; i++) {
                const uint8_t *b = blk + i * es;
                size_t j = done + i;
                switch (hd->code) {
                case 0x09: ((int32_t *)out)[j] = (int8_t)b[0]; break;
                case 0x0B: ((int32_t *)out)[j] = (int16_t)(uint16_t)((unsigned)b[0] << 8 | b[1]); break;
                case 0x0C: {
                    uint32_t u = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
                    int32_t v;
                    memcpy(&v, &u, 4);
                    ((int32_t *)out)[j] = v;
                    break;
                }
                case 0x0D: {
                    uint32_t u = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
                    float v;
                    memcpy(&v, &u, 4);
                    ((float *)out)[j] = v;
                    break;
                }
                default: {
                    uint64_t u = 0;
                    for (int k = 0; k < 8; k++) u = u << 8 | b[k];
                    double v;
                    memcpy(&v, &u, 8);
                    ((float *)out)[j] = (float)v;
                    break;
                }
                }
            }
            done += n;
        }
    }
    gzclose(f);
    return st;
}

void lt_idx_label_masks(int32_t *out, const uint8_t *img, const int32_t *labels, int64_t n,
                        int64_t p, int threshold) {
    for (int64_t i = 0; i < n; i++) {
        int32_t v = labels[i] + 1;
        const uint8_t *src = img + i * p;
        int32_t *dst = out + i * p;
        for (int64_t j = 0; j < p; j++) dst[j] = (int)src[j] > threshold ? v : 0;
    }
}
