/* lt_idx.c: IDX (MNIST-style) files through zlib's gz* interface, which reads gzip and
 * plain files alike. The gzFile never outlives one call. */
#include "lt_idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int elem_size(int code) {
    switch (code) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    }
    return 0;
}

static gzFile open_gz(const char *path, char *err, size_t errlen) {
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) snprintf(err, errlen, "cannot open '%s': %s", path, errno ? strerror(errno) : "out of memory");
    return f;
}

/* zlib's gzerror text is "path: message"; keep the message. */
static const char *gz_msg(gzFile f, const char *path, int *zerr) {
    const char *msg = gzerror(f, zerr);
    if (!msg) return "read error";
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
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

lt_status lt_idx_read_header(lt_idx_header *hd, const char *path, char *err, size_t errlen) {
    memset(hd, 0, sizeof *hd);
    gzFile f = open_gz(path, err, errlen);
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
    gzclose(f);
    return st;
}

size_t lt_idx_nbytes(const lt_idx_header *hd) {
    size_t n = lt_dtype_size(hd->dtype);
    for (int d = 0; d < hd->ndim; d++) n *= (size_t)hd->size[d];
    return n;
}

lt_status lt_idx_read_data(void *out, const lt_idx_header *hd, const char *path, char *err,
                           size_t errlen) {
    size_t count = 1;
    for (int d = 0; d < hd->ndim; d++) count *= (size_t)hd->size[d];
    size_t es = (size_t)elem_size(hd->code);
    gzFile f = open_gz(path, err, errlen);
    if (!f) return LT_EARG;
    uint8_t skip[4 + 4 * LT_MAXDIM];
    lt_status st = read_exact(f, skip, hd->header_bytes, path, err, errlen);
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
