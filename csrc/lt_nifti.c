/* lt_nifti.c: NIfTI-1 reading and writing on top of Debian's NIfTI library: znzlib for the
 * (gzip or plain) byte stream, niftiio for decoding the header (byte swapping, quaternion to
 * qform matrix) and encoding it. The header is validated here first, so that the library
 * never sees a header it would print about; every read and write count is checked. */
#include "lt_nifti.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nifti1_io.h>

#include "lt_file.h"

/* deflate expands at most 1032:1; a gzip member also has an 18-byte frame */
#define NII_GZ_MAX_RATIO 1100
#define NII_HDR 348
#define NII_MAX_OFFSET ((int64_t)1 << 40)

/* %g of a double, with NaN and infinities spelled as lunet prints them ("nan", "inf"). */
static const char *num(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "nan");
    else snprintf(buf, n, "%g", v);
    return buf;
}

static void set_err(char *err, size_t errlen, const char *fmt, const char *path, const char *what) {
    if (err && errlen) snprintf(err, errlen, fmt, path, what);
}

const char *lt_nifti_dtype_name(int datatype) {
    switch (datatype) {
    case DT_UINT8: return "uint8";
    case DT_INT16: return "int16";
    case DT_INT32: return "int32";
    case DT_FLOAT32: return "float32";
    case DT_FLOAT64: return "float64";
    case DT_INT8: return "int8";
    case DT_UINT16: return "uint16";
    default: return NULL;
    }
}

int lt_nifti_dtype_code(const char *name) {
    static const int codes[] = {DT_UINT8, DT_INT16, DT_INT32, DT_FLOAT32, DT_FLOAT64, DT_INT8,
                                DT_UINT16};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(name, lt_nifti_dtype_name(codes[i])) == 0) return codes[i];
    return 0;
}

static int dtype_size(int datatype) {
    switch (datatype) {
    case DT_UINT8: case DT_INT8: return 1;
    case DT_INT16: case DT_UINT16: return 2;
    case DT_INT32: case DT_FLOAT32: return 4;
    case DT_FLOAT64: return 8;
    default: return 0;
    }
}

/* Opens path (a regular file only: lt_file_open refuses FIFOs and devices without blocking)
 * as a znz stream that reads gzip or plain bytes. znzlib opens by name, so the checked
 * descriptor is reopened through /proc/self/fd (the same file even if path changes); without
 * /proc the path itself is opened after the check. */
static znzFile open_read(const char *path, int64_t *file_size, int *gz, char *err, size_t errlen) {
    int fd = lt_file_open(path, file_size, err, errlen);
    if (fd < 0) return NULL;
    unsigned char magic[2] = {0, 0};
    ssize_t r;
    do { r = pread(fd, magic, 2, 0); } while (r < 0 && errno == EINTR);
    *gz = r == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    znzFile f = znzopen(access(proc, R_OK) == 0 ? proc : path, "rb", 1);
    close(fd);
    if (znz_isnull(f)) set_err(err, errlen, "cannot open '%s': %s", path, strerror(errno));
    return f;
}

/* Reads exactly n bytes; a short read is a truncated file. */
static lt_status read_exact(znzFile f, void *dst, size_t n, const char *path, const char *what,
                            char *err, size_t errlen) {
    unsigned char *p = (unsigned char *)dst;
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done > ((size_t)1 << 26) ? ((size_t)1 << 26) : n - done;
        size_t got = znzread(p + done, 1, chunk, f);
        if (got != chunk) {
            if (err && errlen)
                snprintf(err, errlen, "'%s' is truncated or corrupt: %s ends after %zu of %zu bytes",
                         path, what, done + (got <= chunk ? got : 0), n);
            return LT_EARG;
        }
        done += got;
    }
    return LT_OK;
}

static int16_t get16(const unsigned char *b, int swap) {
    unsigned w = swap ? ((unsigned)b[0] << 8 | b[1]) : (b[0] | (unsigned)b[1] << 8);
    uint16_t v = (uint16_t)w;
    int16_t s;
    memcpy(&s, &v, 2);
    return s;
}

static void swap_bytes(void *p, size_t n, int size) {
    if (size <= 1) return;
    unsigned char *c = (unsigned char *)p;
    for (size_t i = 0; i < n; i++, c += size)
        for (int a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char t = c[a];
            c[a] = c[b];
            c[b] = t;
        }
}

static int machine_is_little(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Validates the raw header bytes (any byte order) before the library decodes them. */
static lt_status check_raw(const unsigned char *raw, int64_t file_size, int gz, int64_t max_voxels,
                           lt_nifti_header *h, const char *path, char *err, size_t errlen) {
    int32_t sz;
    memcpy(&sz, raw, 4);
    int32_t szs = sz;
    swap_bytes(&szs, 1, 4);
    if (sz != NII_HDR && szs != NII_HDR) {
        if (sz == 540 || szs == 540)
            set_err(err, errlen, "'%s' is %s: only NIfTI-1 is supported", path, "a NIfTI-2 file");
        else if (err && errlen)
            snprintf(err, errlen, "'%s' is not a NIfTI-1 file (sizeof_hdr is %ld, expected 348)",
                     path, (long)sz);
        return LT_EARG;
    }
    /* sizeof_hdr says the byte order; in the file's order (not this machine's) all fields swap */
    int file_little = (sz == NII_HDR) == machine_is_little();
    h->swapped = sz != NII_HDR;
    int swap16 = !file_little;   /* get16 reads big-endian when set */
    const unsigned char *magic = raw + 344;
    if (memcmp(magic, "ni1\0", 4) == 0) {
        set_err(err, errlen, "'%s' is %s: only single-file NIfTI-1 (.nii, magic \"n+1\") is supported",
                path, "the header of a .hdr/.img pair");
        return LT_EARG;
    }
    if (memcmp(magic, "n+1\0", 4) != 0) {
        set_err(err, errlen, "'%s' is not a NIfTI-1 file (%s)", path,
                "no \"n+1\" magic: ANALYZE 7.5 or a corrupt header");
        return LT_EARG;
    }
    int ndim = get16(raw + 40, swap16);
    if (ndim < 1 || ndim > 7) {
        if (err && errlen) snprintf(err, errlen, "'%s': dim[0] must be 1..7, got %d", path, ndim);
        return LT_EARG;
    }
    h->ndim = ndim;
    int64_t nvox = 1;
    for (int i = 1; i < 8; i++) {
        int64_t d = get16(raw + 40 + 2 * i, swap16);
        if (i <= ndim) {
            if (d < 1) {
                if (err && errlen)
                    snprintf(err, errlen, "'%s': dim[%d] must be >= 1, got %lld (dims [%d", path, i,
                             (long long)d, ndim);
                if (err && errlen) {
                    size_t len = strlen(err);
                    for (int k = 1; k <= ndim && len < errlen; k++)
                        len += (size_t)snprintf(err + len, errlen - len, ", %d", get16(raw + 40 + 2 * k, swap16));
                    if (len < errlen) snprintf(err + len, errlen - len, "])");
                }
                return LT_EARG;
            }
            if (lt_mul_ovf(nvox, d, &nvox)) return LT_EOVERFLOW;
        }
        h->dim[i] = i <= ndim ? d : 1;
    }
    h->dim[0] = ndim;
    h->nvox = nvox;
    int datatype = get16(raw + 70, swap16);
    const char *dname = lt_nifti_dtype_name(datatype);
    if (!dname) {
        if (err && errlen)
            snprintf(err, errlen, "'%s': datatype %d is not supported (uint8 2, int16 4, int32 8, "
                     "float32 16, float64 64, int8 256, uint16 512)", path, datatype);
        return LT_EARG;
    }
    h->datatype = datatype;
    h->nbyper = dtype_size(datatype);
    float off;
    char nb[48];
    memcpy(&off, raw + 108, 4);
    if (!file_little != !machine_is_little()) swap_bytes(&off, 1, 4);
    if (!(off >= 352.0f) || !((double)off <= (double)NII_MAX_OFFSET) || off != floorf(off)) {
        if (err && errlen)
            snprintf(err, errlen, "'%s': vox_offset must be an integer >= 352, got %s", path,
                     num(nb, sizeof nb, (double)off));
        return LT_EARG;
    }
    h->vox_offset = (int64_t)off;
    int64_t nbytes, need;
    if (lt_mul_ovf(nvox, h->nbyper, &nbytes) || lt_add_ovf(nbytes, h->vox_offset, &need))
        return LT_EOVERFLOW;
    if (max_voxels >= 0 && nvox > max_voxels) {
        if (err && errlen)
            snprintf(err, errlen, "'%s' claims %lld voxels, more than the limit of %lld voxels "
                     "(option max_voxels, image.set_max_pixels)", path, (long long)nvox,
                     (long long)max_voxels);
        return LT_EARG;
    }
    if (!gz && need > file_size) {
        if (err && errlen)
            snprintf(err, errlen, "'%s' is truncated: the header claims %lld bytes of data at offset "
                     "%lld, the file has %lld bytes", path, (long long)nbytes,
                     (long long)h->vox_offset, (long long)file_size);
        return LT_EARG;
    }
    int64_t cap;
    if (gz && (lt_mul_ovf(file_size, NII_GZ_MAX_RATIO, &cap) || need > cap + 16384)) {
        if (err && errlen)
            snprintf(err, errlen, "'%s' claims %lld bytes of data, more than a %lld-byte gzip file "
                     "can hold", path, (long long)nbytes, (long long)file_size);
        return LT_EARG;
    }
    h->gzip = gz;
    return LT_OK;
}

static void mat_from(double out[4][4], mat44 m) {
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) out[r][c] = (double)m.m[r][c];
}

lt_status lt_nifti_read_header(lt_nifti_header *h, const char *path, int64_t max_voxels,
                               char *err, size_t errlen) {
    memset(h, 0, sizeof *h);
    int64_t file_size = 0;
    int gz = 0;
    znzFile f = open_read(path, &file_size, &gz, err, errlen);
    if (znz_isnull(f)) return LT_EARG;
    lt_status st = read_exact(f, h->raw, NII_HDR, path, "the header", err, errlen);
    znzclose(f);
    if (st != LT_OK) return st;
    st = check_raw(h->raw, file_size, gz, max_voxels, h, path, err, errlen);
    if (st == LT_EOVERFLOW && err && errlen)
        snprintf(err, errlen, "'%s': the header's dimensions overflow int64", path);
    if (st != LT_OK) return st;

    /* the library decodes the validated header (swapping it when needed) */
    struct nifti_1_header nh;
    memcpy(&nh, h->raw, sizeof nh);
    nifti_image *nim = nifti_convert_nhdr2nim(nh, NULL);
    if (!nim) {
        set_err(err, errlen, "'%s': %s", path, "the NIfTI library cannot decode the header");
        return LT_EARG;
    }
    for (int i = 0; i < 8; i++) h->pixdim[i] = (double)nim->pixdim[i];
    h->pixdim[0] = (double)nim->qfac;
    h->cal_min = nim->cal_min;
    h->cal_max = nim->cal_max;
    h->qform_code = nim->qform_code;
    h->sform_code = nim->sform_code;
    mat_from(h->qform, nim->qto_xyz);
    /* the library leaves sto_xyz zero when sform_code is 0; report srow_* as stored */
    struct nifti_1_header sw = nh;
    if (h->swapped) swap_nifti_header(&sw, 1);
    for (int c = 0; c < 4; c++) {
        h->sform[0][c] = (double)sw.srow_x[c];
        h->sform[1][c] = (double)sw.srow_y[c];
        h->sform[2][c] = (double)sw.srow_z[c];
        h->sform[3][c] = c == 3 ? 1.0 : 0.0;
    }
    h->quatern[0] = nim->quatern_b;
    h->quatern[1] = nim->quatern_c;
    h->quatern[2] = nim->quatern_d;
    h->qoffset[0] = nim->qoffset_x;
    h->qoffset[1] = nim->qoffset_y;
    h->qoffset[2] = nim->qoffset_z;
    h->qfac = nim->qfac;
    h->xyz_units = nim->xyz_units;
    h->time_units = nim->time_units;
    h->intent_code = nim->intent_code;
    h->toffset = nim->toffset;
    memcpy(h->descrip, nim->descrip, 80);
    h->descrip[80] = 0;
    memcpy(h->intent_name, nim->intent_name, 16);
    h->intent_name[16] = 0;
    /* nibabel's rule: a slope of 0 or non-finite means unscaled; then the intercept must be finite */
    double slope = sw.scl_slope, inter = sw.scl_inter;
    nifti_image_free(nim);
    h->scl_slope = slope;
    h->scl_inter = inter;
    h->scaled = isfinite(slope) && slope != 0.0;
    if (h->scaled && !isfinite(inter)) {
        char nb[48], nb2[48];
        if (err && errlen)
            snprintf(err, errlen, "'%s': scl_slope is %s but scl_inter is %s (must be finite)",
                     path, num(nb, sizeof nb, slope), num(nb2, sizeof nb2, inter));
        return LT_EARG;
    }
    if (h->scaled && slope == 1.0 && inter == 0.0) h->scaled = 0;
    return LT_OK;
}

lt_dtype lt_nifti_out_dtype(const lt_nifti_header *h) {
    if (h->scaled || h->datatype == DT_FLOAT32 || h->datatype == DT_FLOAT64) return LT_FLOAT32;
    return h->datatype == DT_UINT8 ? LT_UINT8 : LT_INT32;
}

static double stored_at(const unsigned char *p, int datatype, int64_t i) {
    switch (datatype) {
    case DT_UINT8: return p[i];
    case DT_INT8: return (double)(int8_t)p[i];
    case DT_INT16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case DT_UINT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case DT_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case DT_FLOAT32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    default: { double v; memcpy(&v, p + 8 * i, 8); return v; }
    }
}

lt_status lt_nifti_read_data(void *out, lt_dtype dt, const lt_nifti_header *h, const char *path,
                             char *err, size_t errlen) {
    int64_t file_size = 0, nbytes;
    int gz = 0;
    if (lt_mul_ovf(h->nvox, h->nbyper, &nbytes) || (uint64_t)nbytes > (uint64_t)SIZE_MAX)
        return LT_EOVERFLOW;
    znzFile f = open_read(path, &file_size, &gz, err, errlen);
    if (znz_isnull(f)) return LT_EARG;
    unsigned char raw[NII_HDR];
    lt_status st = read_exact(f, raw, NII_HDR, path, "the header", err, errlen);
    if (st == LT_OK && memcmp(raw, h->raw, NII_HDR) != 0) {
        set_err(err, errlen, "'%s' %s", path, "changed while it was being read");
        st = LT_EARG;
    }
    /* skip the extensions up to vox_offset (read, not seek: gzip streams seek by reading) */
    unsigned char skip[4096];
    for (int64_t left = h->vox_offset - NII_HDR; st == LT_OK && left > 0;) {
        size_t n = left > (int64_t)sizeof skip ? sizeof skip : (size_t)left;
        st = read_exact(f, skip, n, path, "the extensions before vox_offset", err, errlen);
        left -= (int64_t)n;
    }
    unsigned char *buf = NULL;
    if (st == LT_OK) {
        buf = (unsigned char *)malloc(nbytes ? (size_t)nbytes : 1);
        if (!buf) st = LT_ENOMEM;
    }
    if (st == LT_OK) st = read_exact(f, buf, (size_t)nbytes, path, "the voxel data", err, errlen);
    znzclose(f);
    if (st != LT_OK) {
        free(buf);
        return st;
    }
    if (h->swapped) nifti_swap_Nbytes((size_t)h->nvox, h->nbyper, buf);
    int64_t n = h->nvox;
    if (dt == LT_FLOAT32) {
        float *o = (float *)out;
        double a = h->scaled ? h->scl_slope : 1.0, b = h->scaled ? h->scl_inter : 0.0;
        for (int64_t i = 0; i < n; i++) o[i] = (float)(a * stored_at(buf, h->datatype, i) + b);
    } else if (dt == LT_INT32 && !h->scaled && h->datatype != DT_FLOAT32 && h->datatype != DT_FLOAT64) {
        int32_t *o = (int32_t *)out;
        for (int64_t i = 0; i < n; i++) o[i] = (int32_t)stored_at(buf, h->datatype, i);
    } else if (dt == LT_UINT8 && !h->scaled && h->datatype == DT_UINT8) {
        memcpy(out, buf, (size_t)n);
    } else {
        st = LT_EDTYPE;
    }
    free(buf);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* writing                                                                                    */

static double src_at(const void *src, lt_dtype dt, int64_t i) {
    switch (dt) {
    case LT_FLOAT32: return ((const float *)src)[i];
    case LT_INT32: return ((const int32_t *)src)[i];
    default: return ((const uint8_t *)src)[i];
    }
}

/* Stores v as the datatype at dst[i]; 0 when it does not fit (integer types: integral and in
 * range). */
static int store(unsigned char *dst, int datatype, int64_t i, double v) {
    double lo, hi;
    switch (datatype) {
    case DT_FLOAT32: { float f = (float)v; memcpy(dst + 4 * i, &f, 4); return 1; }
    case DT_FLOAT64: memcpy(dst + 8 * i, &v, 8); return 1;
    case DT_UINT8: lo = 0; hi = 255; break;
    case DT_INT8: lo = -128; hi = 127; break;
    case DT_INT16: lo = -32768; hi = 32767; break;
    case DT_UINT16: lo = 0; hi = 65535; break;
    default: lo = -2147483648.0; hi = 2147483647.0; break;
    }
    if (!(v >= lo && v <= hi) || v != floor(v)) return 0;
    switch (datatype) {
    case DT_UINT8: dst[i] = (uint8_t)v; break;
    case DT_INT8: { int8_t x = (int8_t)v; memcpy(dst + i, &x, 1); break; }
    case DT_INT16: { int16_t x = (int16_t)v; memcpy(dst + 2 * i, &x, 2); break; }
    case DT_UINT16: { uint16_t x = (uint16_t)v; memcpy(dst + 2 * i, &x, 2); break; }
    default: { int32_t x = (int32_t)v; memcpy(dst + 4 * i, &x, 4); break; }
    }
    return 1;
}

static mat44 to_mat44(const double m[4][4]) {
    mat44 r;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) r.m[a][b] = (float)m[a][b];
    return r;
}

lt_status lt_nifti_write(lt_context *ctx, const char *path, const void *src, lt_dtype src_dt,
                         const lt_nifti_header *h, char *err, size_t errlen) {
    int nb = dtype_size(h->datatype);
    if (!nb || h->ndim < 1 || h->ndim > 7) return LT_EARG;
    int dims[8] = {h->ndim, 1, 1, 1, 1, 1, 1, 1};
    int64_t nvox = 1, nbytes;
    for (int i = 1; i <= h->ndim; i++) {
        if (h->dim[i] < 1 || h->dim[i] > 32767) {
            if (err && errlen)
                snprintf(err, errlen, "NIfTI-1 dimensions must be 1..32767, dim[%d] is %lld", i,
                         (long long)h->dim[i]);
            return LT_EARG;
        }
        dims[i] = (int)h->dim[i];
        nvox *= h->dim[i];
    }
    if (nvox != h->nvox) return LT_EARG;
    if (lt_mul_ovf(nvox, nb, &nbytes) || (uint64_t)nbytes > (uint64_t)SIZE_MAX) return LT_EOVERFLOW;
    unsigned char *buf = (unsigned char *)malloc(nbytes ? (size_t)nbytes : 1);
    if (!buf) return LT_ENOMEM;
    double a = h->scaled ? h->scl_slope : 1.0, b = h->scaled ? h->scl_inter : 0.0;
    for (int64_t i = 0; i < nvox; i++) {
        double v = src_at(src, src_dt, i);
        if (h->scaled) v = (v - b) / a;
        if (!store(buf, h->datatype, i, v)) {
            free(buf);
            return lt_range_fail(ctx, src_at(src, src_dt, i), LT_FLOAT32, 1, &nvox, i);
        }
    }

    nifti_image *nim = nifti_make_new_nim(dims, h->datatype, 0);
    if (!nim) {
        free(buf);
        return LT_ENOMEM;
    }
    for (int i = 1; i <= 7; i++) nim->pixdim[i] = (float)h->pixdim[i];
    nim->dx = nim->pixdim[1]; nim->dy = nim->pixdim[2]; nim->dz = nim->pixdim[3];
    nim->dt = nim->pixdim[4]; nim->du = nim->pixdim[5]; nim->dv = nim->pixdim[6];
    nim->dw = nim->pixdim[7];
    nim->scl_slope = h->scaled ? (float)h->scl_slope : 0.0f;
    nim->scl_inter = h->scaled ? (float)h->scl_inter : 0.0f;
    nim->cal_min = (float)h->cal_min;
    nim->cal_max = (float)h->cal_max;
    nim->qform_code = h->qform_code;
    nim->sform_code = h->sform_code;
    if (h->qform_code > 0) {
        float dx, dy, dz, qfac;
        nifti_mat44_to_quatern(to_mat44(h->qform), &nim->quatern_b, &nim->quatern_c,
                               &nim->quatern_d, &nim->qoffset_x, &nim->qoffset_y,
                               &nim->qoffset_z, &dx, &dy, &dz, &qfac);
        nim->qfac = qfac;
    } else {
        nim->quatern_b = nim->quatern_c = nim->quatern_d = 0.0f;
        nim->qoffset_x = nim->qoffset_y = nim->qoffset_z = 0.0f;
        nim->qfac = 1.0f;
    }
    nim->sto_xyz = to_mat44(h->sform);
    nim->xyz_units = h->xyz_units;
    nim->time_units = h->time_units;
    nim->intent_code = h->intent_code;
    nim->toffset = (float)h->toffset;
    memcpy(nim->descrip, h->descrip, 80);
    nim->descrip[79] = 0;
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    nim->iname_offset = 352;
    struct nifti_1_header nh = nifti_convert_nim2nhdr(nim);
    nifti_image_free(nim);
    if (h->sform_code <= 0) {   /* the library writes sto_xyz only with a code; keep them zero */
        for (int c = 0; c < 4; c++) nh.srow_x[c] = nh.srow_y[c] = nh.srow_z[c] = 0.0f;
    }

    znzFile f = znzopen(path, h->gzip ? "wb6" : "wb", h->gzip);
    if (znz_isnull(f)) {
        free(buf);
        if (err && errlen) snprintf(err, errlen, "cannot open '%s' for writing: %s", path, strerror(errno));
        return LT_EARG;
    }
    static const unsigned char ext[4] = {0, 0, 0, 0};
    int ok = znzwrite(&nh, 1, sizeof nh, f) == sizeof nh && znzwrite(ext, 1, 4, f) == 4;
    for (int64_t done = 0; ok && done < nbytes;) {
        size_t chunk = nbytes - done > ((int64_t)1 << 26) ? ((size_t)1 << 26) : (size_t)(nbytes - done);
        ok = znzwrite(buf + done, 1, chunk, f) == chunk;
        done += (int64_t)chunk;
    }
    free(buf);
    int cerr = Xznzclose(&f);
    if (!ok || cerr != 0) {
        if (err && errlen) snprintf(err, errlen, "cannot write '%s': %s", path, errno ? strerror(errno) : "write error");
        unlink(path);
        return LT_EARG;
    }
    return LT_OK;
}
