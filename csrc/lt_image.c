/* lt_image.c: PNG/JPEG decoding and PNG/JPEG encoding on memory buffers (libpng, libjpeg-turbo),
 * with each library's longjmp caught inside the call that owns its objects; plus overlay,
 * cut-out compositing and procedural textures for the dataset makers. */
#include "lt_image.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

static void set_err(char *err, size_t errlen, const char *msg) {
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

lt_image_format lt_image_sniff(const uint8_t *buf, size_t len) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 8 && memcmp(buf, png_sig, 8) == 0) return LT_IMG_PNG;
    if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff) return LT_IMG_JPEG;
    return LT_IMG_UNKNOWN;
}

const char *lt_image_color_name(lt_image_color c) {
    switch (c) {
    case LT_IMG_GRAY: return "gray";
    case LT_IMG_GRAY_ALPHA: return "gray+alpha";
    case LT_IMG_RGB: return "RGB";
    case LT_IMG_RGBA: return "RGBA";
    case LT_IMG_PALETTE: return "palette";
    case LT_IMG_CMYK: return "CMYK";
    }
    return "?";
}

/* PIL's ITU-R 601-2 luma: L = R*299/1000 + G*587/1000 + B*114/1000, in 16.16 fixed point. */
static inline uint32_t luma(uint32_t r, uint32_t g, uint32_t b) {
    return (uint32_t)(((uint64_t)r * 19595u + (uint64_t)g * 38470u + (uint64_t)b * 7471u +
                       0x8000u) >> 16);
}

/* Writes pixel row y from interleaved samples (nch per pixel, 8 or 16 bit big-endian)
 * into the planar output for the requested mode (c output channels). */
static void convert_row(void *out, lt_image_mode mode, int c, int y, int h, int w,
                        const uint8_t *row, int nch, int wide) {
    size_t plane = (size_t)h * (size_t)w;
    size_t base = (size_t)y * (size_t)w;
    uint32_t maxv = wide ? 65535u : 255u;
    for (int x = 0; x < w; x++) {
        uint32_t s[4] = {0, 0, 0, maxv};
        for (int k = 0; k < nch; k++) {
            size_t i = (size_t)x * (size_t)nch + (size_t)k;
            s[k] = wide ? ((uint32_t)row[2 * i] << 8 | row[2 * i + 1]) : row[i];
        }
        uint32_t v[4];
        switch (mode) {
        case LT_IMG_MODE_INDEX:
            v[0] = s[0];
            break;
        case LT_IMG_MODE_GRAY:
            v[0] = nch <= 2 ? s[0] : luma(s[0], s[1], s[2]);
            break;
        case LT_IMG_MODE_RGB:
        case LT_IMG_MODE_RGBA:
            if (nch <= 2) {
                v[3] = nch == 2 ? s[1] : maxv;
                v[0] = v[1] = v[2] = s[0];
            } else {
                v[0] = s[0]; v[1] = s[1]; v[2] = s[2]; v[3] = s[3];
            }
            break;
        case LT_IMG_MODE_UNCHANGED:
        default:
            v[0] = s[0]; v[1] = s[1]; v[2] = s[2]; v[3] = s[3];
            break;
        }
        for (int k = 0; k < c; k++) {
            if (wide) ((int32_t *)out)[(size_t)k * plane + base + (size_t)x] = (int32_t)v[k];
            else ((uint8_t *)out)[(size_t)k * plane + base + (size_t)x] = (uint8_t)v[k];
        }
    }
}

/* ------------------------------------------------------------------ PNG reading */

typedef struct {
    const uint8_t *buf;
    size_t len, pos;
    char *err;
    size_t errlen;
} png_src;

static void png_err_cb(png_structp png, png_const_charp msg) {
    png_src *s = (png_src *)png_get_error_ptr(png);
    set_err(s->err, s->errlen, msg);
    png_longjmp(png, 1);
}

static void png_warn_cb(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void png_read_cb(png_structp png, png_bytep data, size_t n) {
    png_src *s = (png_src *)png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "file is truncated");
    memcpy(data, s->buf + s->pos, n);
    s->pos += n;
}

/* Fuzz builds only (fuzz/fuzz.mk defines LT_FUZZING): CRC and Adler-32 failures would stop
 * nearly every mutation at its first chunk; ignoring them lets the fuzzer reach the decoding
 * behind, as libpng's own fuzzer does. */
static void png_fuzz_setup(png_structp png) {
#ifdef LT_FUZZING
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
#ifdef PNG_IGNORE_ADLER32
    png_set_option(png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
#else
    (void)png;
#endif
}

static lt_status png_header(lt_image_info *info, const uint8_t *buf, size_t len, char *err,
                            size_t errlen) {
    png_src src = {buf, len, 0, err, errlen};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_err_cb,
                                             png_warn_cb);
    if (!png) { set_err(err, errlen, "out of memory"); return LT_ENOMEM; }
    png_infop pi = png_create_info_struct(png);
    if (!pi) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_err(err, errlen, "out of memory");
        return LT_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &pi, NULL);
        return LT_EARG;
    }
    png_set_read_fn(png, &src, png_read_cb);
    png_fuzz_setup(png);
    png_read_info(png, pi);
    info->format = LT_IMG_PNG;
    info->width = (int)png_get_image_width(png, pi);
    info->height = (int)png_get_image_height(png, pi);
    info->bit_depth = png_get_bit_depth(png, pi);
    info->interlaced = png_get_interlace_type(png, pi) != PNG_INTERLACE_NONE;
    info->has_trns = png_get_valid(png, pi, PNG_INFO_tRNS) != 0;
    switch (png_get_color_type(png, pi)) {
    case PNG_COLOR_TYPE_GRAY: info->color = LT_IMG_GRAY; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: info->color = LT_IMG_GRAY_ALPHA; break;
    case PNG_COLOR_TYPE_RGB: info->color = LT_IMG_RGB; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: info->color = LT_IMG_RGBA; break;
    default: info->color = LT_IMG_PALETTE; break;
    }
    if (info->color == LT_IMG_PALETTE) {
        png_colorp pal = NULL;
        int n = 0;
        if (png_get_PLTE(png, pi, &pal, &n) && pal) {
            if (n > 256) n = 256;
            for (int i = 0; i < n; i++) {
                info->palette[3 * i] = pal[i].red;
                info->palette[3 * i + 1] = pal[i].green;
                info->palette[3 * i + 2] = pal[i].blue;
            }
            info->palette_size = n;
        }
    }
    png_destroy_read_struct(&png, &pi, NULL);
    return LT_OK;
}

/* Runs the libpng decode under setjmp; buffers and structs are owned by the caller. */
static lt_status png_decode_run(png_structp png, png_infop pi, png_src *src, uint8_t *rowbuf,
                                png_bytep *rowp, size_t rowcap, void *out, lt_image_mode mode,
                                int c, const lt_image_info *info) {
    int wide = info->bit_depth == 16;
    if (setjmp(png_jmpbuf(png))) return LT_EARG;
    png_set_read_fn(png, src, png_read_cb);
    png_fuzz_setup(png);
    png_read_info(png, pi);
    if ((int)png_get_image_width(png, pi) != info->width ||
        (int)png_get_image_height(png, pi) != info->height)
        png_error(png, "header changed between reads");
    if (mode == LT_IMG_MODE_INDEX) {
        if (info->bit_depth < 8) png_set_packing(png);     /* raw indices / gray levels */
    } else {
        if (info->color == LT_IMG_PALETTE) png_set_palette_to_rgb(png);
        if (info->color == LT_IMG_GRAY && info->bit_depth < 8)
            png_set_expand_gray_1_2_4_to_8(png);
        if (info->has_trns) png_set_tRNS_to_alpha(png);
    }
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, pi);
    int nch = png_get_channels(png, pi);
    if (png_get_rowbytes(png, pi) > rowcap || nch < 1 || nch > 4 ||
        (png_get_bit_depth(png, pi) == 16) != wide)
        png_error(png, "unexpected row layout");
    if (info->interlaced) {
        png_read_image(png, rowp);
        for (int y = 0; y < info->height; y++)
            convert_row(out, mode, c, y, info->height, info->width, rowp[y], nch, wide);
    } else {
        for (int y = 0; y < info->height; y++) {
            png_read_row(png, rowbuf, NULL);
            convert_row(out, mode, c, y, info->height, info->width, rowbuf, nch, wide);
        }
    }
    png_read_end(png, NULL);
    return LT_OK;
}

static lt_status png_decode(void *out, lt_image_mode mode, int c, const lt_image_info *info,
                            const uint8_t *buf, size_t len, char *err, size_t errlen) {
    size_t rowcap = (size_t)info->width * 4u * (info->bit_depth == 16 ? 2u : 1u);
    size_t nrows = info->interlaced ? (size_t)info->height : 1u;
    uint8_t *rowbuf = (uint8_t *)malloc(rowcap * nrows);
    png_bytep *rowp = (png_bytep *)malloc(nrows * sizeof(png_bytep));
    png_src src = {buf, len, 0, err, errlen};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_err_cb,
                                             png_warn_cb);
    png_infop pi = png ? png_create_info_struct(png) : NULL;
    lt_status st = LT_ENOMEM;
    if (rowbuf && rowp && png && pi) {
        for (size_t i = 0; i < nrows; i++) rowp[i] = rowbuf + i * rowcap;
        st = png_decode_run(png, pi, &src, rowbuf, rowp, rowcap, out, mode, c, info);
    } else {
        set_err(err, errlen, "out of memory");
    }
    if (png) png_destroy_read_struct(&png, pi ? &pi : NULL, NULL);
    free(rowbuf);
    free(rowp);
    return st;
}

/* ------------------------------------------------------------------ JPEG reading */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char *err;
    size_t errlen;
} jpeg_err;

static void jpeg_error_exit_cb(j_common_ptr ci) {
    jpeg_err *e = (jpeg_err *)ci->err;
    char msg[JMSG_LENGTH_MAX];
    (*ci->err->format_message)(ci, msg);
    set_err(e->err, e->errlen, msg);
    longjmp(e->jb, 1);
}

/* Warnings that mean the entropy-coded data is damaged are errors (a truncated or corrupt
 * file); harmless ones (extraneous bytes, unknown JFIF version, bad ICC) are ignored. */
static void jpeg_emit_cb(j_common_ptr ci, int level) {
    if (level >= 0) return;                              /* trace messages */
    int code = ci->err->msg_code;
    jpeg_err *e = (jpeg_err *)ci->err;
    if (code == JWRN_JPEG_EOF) {
        set_err(e->err, e->errlen, "file is truncated (premature end of JPEG data)");
        longjmp(e->jb, 1);
    }
    if (code == JWRN_HUFF_BAD_CODE || code == JWRN_ARITH_BAD_CODE || code == JWRN_MUST_RESYNC ||
        code == JWRN_HIT_MARKER || code == JWRN_NOT_SEQUENTIAL || code == JWRN_BOGUS_PROGRESSION) {
        char msg[JMSG_LENGTH_MAX];
        (*ci->err->format_message)(ci, msg);
        set_err(e->err, e->errlen, msg);                 /* "Corrupt JPEG data: ..." */
        longjmp(e->jb, 1);
    }
}

static void jpeg_setup_err(struct jpeg_decompress_struct *ci, jpeg_err *e, char *err,
                           size_t errlen) {
    ci->err = jpeg_std_error(&e->pub);
    e->pub.error_exit = jpeg_error_exit_cb;
    e->pub.emit_message = jpeg_emit_cb;
    e->err = err;
    e->errlen = errlen;
}

static lt_status jpeg_header(lt_image_info *info, const uint8_t *buf, size_t len, char *err,
                             size_t errlen) {
    struct jpeg_decompress_struct ci;
    jpeg_err e;
    jpeg_setup_err(&ci, &e, err, errlen);
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&ci);
        return LT_EARG;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, buf, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    info->format = LT_IMG_JPEG;
    info->width = (int)ci.image_width;
    info->height = (int)ci.image_height;
    info->bit_depth = 8;
    if (ci.jpeg_color_space == JCS_GRAYSCALE) info->color = LT_IMG_GRAY;
    else if (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK)
        info->color = LT_IMG_CMYK;
    else info->color = LT_IMG_RGB;
    jpeg_destroy_decompress(&ci);
    return LT_OK;
}

/* A progressive JPEG may hold any number of scans, each a pass over the whole coefficient
 * buffer: a few kB of scans can keep the decoder busy for minutes. Real files have about
 * ten; libjpeg-turbo's own fuzzers stop at 500, as do we. */
#define LT_JPEG_MAX_SCANS 500

static void jpeg_progress_cb(j_common_ptr ci) {
    if (!ci->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)ci;
    if (d->input_scan_number > LT_JPEG_MAX_SCANS) {
        jpeg_err *e = (jpeg_err *)ci->err;
        if (e->err && e->errlen)
            snprintf(e->err, e->errlen, "JPEG has more than %d scans (a denial-of-service file?)",
                     LT_JPEG_MAX_SCANS);
        longjmp(e->jb, 1);
    }
}

static lt_status jpeg_decode(void *out, lt_image_mode mode, int c, const lt_image_info *info,
                             const uint8_t *buf, size_t len, char *err, size_t errlen) {
    uint8_t *row = (uint8_t *)malloc((size_t)info->width * 4u);
    uint8_t *row3 = (uint8_t *)malloc((size_t)info->width * 3u);
    if (!row || !row3) {
        free(row);
        free(row3);
        set_err(err, errlen, "out of memory");
        return LT_ENOMEM;
    }
    struct jpeg_decompress_struct ci;
    jpeg_err e;
    jpeg_setup_err(&ci, &e, err, errlen);
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&ci);
        free(row);
        free(row3);
        return LT_EARG;
    }
    jpeg_create_decompress(&ci);
    struct jpeg_progress_mgr progress = {jpeg_progress_cb, 0, 0, 0, 0};
    ci.progress = &progress;
    jpeg_mem_src(&ci, buf, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    int cmyk = info->color == LT_IMG_CMYK;
    ci.out_color_space = info->color == LT_IMG_GRAY ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&ci);
    if ((int)ci.output_width != info->width || (int)ci.output_height != info->height ||
        ci.output_components > 4)
        ERREXIT(&ci, JERR_BAD_DCTSIZE);
    int nch = ci.output_components;
    int inverted = ci.saw_Adobe_marker;
    while (ci.output_scanline < ci.output_height) {
        int y = (int)ci.output_scanline;
        JSAMPROW rp = row;
        if (jpeg_read_scanlines(&ci, &rp, 1) != 1) ERREXIT(&ci, JERR_INPUT_EMPTY);
        const uint8_t *src = row;
        if (cmyk) {           /* naive CMYK -> RGB; Adobe files store inverted values */
            for (int x = 0; x < info->width; x++) {
                unsigned k = row[4 * x + 3];
                for (int j = 0; j < 3; j++) {
                    unsigned v = row[4 * x + j];
                    row3[3 * x + j] = inverted ? (uint8_t)((v * k + 127) / 255)
                                               : (uint8_t)(((255 - v) * (255 - k) + 127) / 255);
                }
            }
            src = row3;
            nch = 3;
        }
        convert_row(out, mode, c, y, info->height, info->width, src, nch, 0);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    free(row);
    free(row3);
    return LT_OK;
}

/* ------------------------------------------------------------------ dispatch */

lt_status lt_image_read_info(lt_image_info *info, const uint8_t *buf, size_t len, char *err,
                             size_t errlen) {
    memset(info, 0, sizeof *info);
    if (errlen) err[0] = 0;
    if (len == 0) { set_err(err, errlen, "file is empty"); return LT_EARG; }
    lt_status st;
    switch (lt_image_sniff(buf, len)) {
    case LT_IMG_PNG: st = png_header(info, buf, len, err, errlen); break;
    case LT_IMG_JPEG: st = jpeg_header(info, buf, len, err, errlen); break;
    default:
        set_err(err, errlen, "not a PNG or JPEG file");
        return LT_EARG;
    }
    if (st == LT_OK && (info->width <= 0 || info->height <= 0)) {
        if (errlen)
            snprintf(err, errlen, "image has zero size (%d x %d pixels)", info->width, info->height);
        return LT_EARG;
    }
    if (st == LT_OK && info->format == LT_IMG_PNG) {
        /* deflate expands at most ~1032:1, so a header claiming far more pixel data than
         * the file could hold is a truncated or forged file: refuse before allocating */
        static const int samples[] = {1, 2, 3, 4, 1, 4};
        double raw = (double)info->height *
                     (1.0 + (double)info->width * samples[info->color] * info->bit_depth / 8.0);
        if (raw > 1100.0 * (double)len + 65536.0) {
            if (errlen)
                snprintf(err, errlen,
                         "file is truncated or corrupt (header claims %d x %d pixels, file has %zu bytes)",
                         info->width, info->height, len);
            return LT_EARG;
        }
    }
    return st;
}

lt_status lt_image_check_size(const lt_image_info *info, int64_t max_pixels, char *err,
                              size_t errlen) {
    int64_t n = (int64_t)info->width * (int64_t)info->height;   /* both < 2^31 */
    if (max_pixels >= 0 && n > max_pixels) {
        if (errlen)
            snprintf(err, errlen,
                     "image claims %d x %d = %lld pixels, more than the limit of %lld pixels",
                     info->width, info->height, (long long)n, (long long)max_pixels);
        return LT_EARG;
    }
    return LT_OK;
}

int lt_image_mode_wide(const lt_image_info *info) {
    return info->format == LT_IMG_PNG && info->bit_depth == 16;
}

int lt_image_mode_channels(const lt_image_info *info, lt_image_mode mode, char *err,
                           size_t errlen) {
    int alpha = info->color == LT_IMG_GRAY_ALPHA || info->color == LT_IMG_RGBA || info->has_trns;
    switch (mode) {
    case LT_IMG_MODE_RGB: return 3;
    case LT_IMG_MODE_GRAY: return 1;
    case LT_IMG_MODE_RGBA: return 4;
    case LT_IMG_MODE_INDEX:
        if (info->format == LT_IMG_PNG &&
            (info->color == LT_IMG_PALETTE || info->color == LT_IMG_GRAY ||
             info->color == LT_IMG_GRAY_ALPHA))
            return 1;
        if (err && errlen)
            snprintf(err, errlen, "mode 'index' needs a palette or grayscale PNG, this is %s %s",
                     info->format == LT_IMG_PNG ? "an" : "a",
                     info->format == LT_IMG_PNG ? (info->color == LT_IMG_RGB ? "RGB PNG"
                                                                             : "RGBA PNG")
                                                : "JPEG (lossy)");
        return 0;
    case LT_IMG_MODE_UNCHANGED:
        if (info->color == LT_IMG_GRAY || info->color == LT_IMG_GRAY_ALPHA) return 1 + alpha;
        return 3 + alpha;
    }
    return 0;
}

lt_status lt_image_decode(void *out, lt_image_mode mode, const lt_image_info *info,
                          const uint8_t *buf, size_t len, char *err, size_t errlen) {
    if (errlen) err[0] = 0;
    int c = lt_image_mode_channels(info, mode, err, errlen);
    if (c == 0) return LT_EARG;
    if (info->format == LT_IMG_PNG) return png_decode(out, mode, c, info, buf, len, err, errlen);
    if (info->format == LT_IMG_JPEG) return jpeg_decode(out, mode, c, info, buf, len, err, errlen);
    set_err(err, errlen, "not a PNG or JPEG file");
    return LT_EARG;
}

/* ------------------------------------------------------------------ PNG writing */

typedef struct {
    uint8_t *dst;
    size_t cap, pos;
    char *err;
    size_t errlen;
} png_dst;

static void png_werr_cb(png_structp png, png_const_charp msg) {
    png_dst *d = (png_dst *)png_get_error_ptr(png);
    set_err(d->err, d->errlen, msg);
    png_longjmp(png, 1);
}

static void png_write_cb(png_structp png, png_bytep data, size_t n) {
    png_dst *d = (png_dst *)png_get_io_ptr(png);
    if (n > d->cap - d->pos) png_error(png, "encoder output exceeds its bound");
    memcpy(d->dst + d->pos, data, n);
    d->pos += n;
}

static void png_flush_cb(png_structp png) { (void)png; }

size_t lt_png_encode_bound(int c, int h, int w, int bits16, int palette_size) {
    size_t raw = (size_t)h * (1u + (size_t)w * (size_t)c * (bits16 ? 2u : 1u));
    return raw + raw / 32u + 12u * (raw / 4096u + 1u) + 3u * (size_t)palette_size + 4096u;
}

lt_status lt_png_encode(uint8_t *dst, size_t cap, size_t *outlen, const void *pix, int c, int h,
                        int w, int bits16, const uint8_t *palette, int palette_size,
                        char *err, size_t errlen) {
    if (errlen) err[0] = 0;
    *outlen = 0;
    if (c < 1 || c > 4 || h < 1 || w < 1 || (palette && (c != 1 || bits16))) {
        set_err(err, errlen, "invalid image layout for PNG");
        return LT_EARG;
    }
    size_t bps = bits16 ? 2u : 1u;
    uint8_t *row = (uint8_t *)malloc((size_t)w * (size_t)c * bps);
    if (!row) { set_err(err, errlen, "out of memory"); return LT_ENOMEM; }
    png_dst d = {dst, cap, 0, err, errlen};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &d, png_werr_cb,
                                              png_warn_cb);
    png_infop pi = png ? png_create_info_struct(png) : NULL;
    if (!png || !pi) {
        if (png) png_destroy_write_struct(&png, NULL);
        free(row);
        set_err(err, errlen, "out of memory");
        return LT_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &pi);
        free(row);
        return LT_EARG;
    }
    png_set_write_fn(png, &d, png_write_cb, png_flush_cb);
    static const int types[4] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                 PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    int ctype = palette ? PNG_COLOR_TYPE_PALETTE : types[c - 1];
    png_set_IHDR(png, pi, (png_uint_32)w, (png_uint_32)h, bits16 ? 16 : 8, ctype,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette) {
        png_color pal[256];
        int n = palette_size > 256 ? 256 : palette_size;
        for (int i = 0; i < n; i++) {
            pal[i].red = palette[3 * i];
            pal[i].green = palette[3 * i + 1];
            pal[i].blue = palette[3 * i + 2];
        }
        png_set_PLTE(png, pi, pal, n);
    }
    png_write_info(png, pi);
    size_t plane = (size_t)h * (size_t)w;
    for (int y = 0; y < h; y++) {
        size_t base = (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++) {
            for (int k = 0; k < c; k++) {
                size_t i = (size_t)x * (size_t)c + (size_t)k;
                size_t s = (size_t)k * plane + base + (size_t)x;
                if (bits16) {
                    int32_t v = ((const int32_t *)pix)[s];
                    uint32_t u = v < 0 ? 0u : v > 65535 ? 65535u : (uint32_t)v;
                    row[2 * i] = (uint8_t)(u >> 8);
                    row[2 * i + 1] = (uint8_t)(u & 0xffu);
                } else {
                    row[i] = ((const uint8_t *)pix)[s];
                }
            }
        }
        png_write_row(png, row);
    }
    png_write_end(png, pi);
    png_destroy_write_struct(&png, &pi);
    free(row);
    *outlen = d.pos;
    return LT_OK;
}

/* ------------------------------------------------------------------ JPEG writing */

typedef struct {
    struct jpeg_destination_mgr pub;
    lt_bytes *out;
    jpeg_err *e;
} jpeg_dst;

/* Grows out->data (doubling); out keeps whatever was allocated, the caller frees it. */
static int bytes_grow(lt_bytes *out, size_t need) {
    if (need <= out->cap) return 1;
    size_t cap = out->cap ? out->cap : 65536;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return 0;
        cap *= 2;
    }
    uint8_t *p = (uint8_t *)realloc(out->data, cap);
    if (!p) return 0;
    out->data = p;
    out->cap = cap;
    return 1;
}

static void jdst_init(j_compress_ptr ci) {
    jpeg_dst *d = (jpeg_dst *)ci->dest;
    d->pub.next_output_byte = d->out->data;
    d->pub.free_in_buffer = d->out->cap;
    d->out->len = 0;
}

static boolean jdst_empty(j_compress_ptr ci) {   /* the whole buffer is full */
    jpeg_dst *d = (jpeg_dst *)ci->dest;
    size_t used = d->out->cap;
    if (!bytes_grow(d->out, used + 1)) {
        set_err(d->e->err, d->e->errlen, "out of memory");
        longjmp(d->e->jb, 1);
    }
    d->pub.next_output_byte = d->out->data + used;
    d->pub.free_in_buffer = d->out->cap - used;
    return TRUE;
}

static void jdst_term(j_compress_ptr ci) {
    jpeg_dst *d = (jpeg_dst *)ci->dest;
    d->out->len = d->out->cap - d->pub.free_in_buffer;
}

static lt_status jpeg_encode_run(struct jpeg_compress_struct *ci, jpeg_err *e, jpeg_dst *d,
                                 uint8_t *row, const uint8_t *pix, int c, int h, int w,
                                 int quality, int progressive) {
    if (setjmp(e->jb)) return LT_EARG;
    jpeg_create_compress(ci);
    ci->dest = &d->pub;
    ci->image_width = (JDIMENSION)w;
    ci->image_height = (JDIMENSION)h;
    ci->input_components = c;
    ci->in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(ci);                    /* 4:2:0 chroma, as PIL and OpenCV write */
    jpeg_set_quality(ci, quality, TRUE);
    if (progressive) jpeg_simple_progression(ci);
    jpeg_start_compress(ci, TRUE);
    size_t plane = (size_t)h * (size_t)w;
    for (int y = 0; y < h; y++) {
        size_t base = (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                row[(size_t)x * (size_t)c + (size_t)k] = pix[(size_t)k * plane + base + (size_t)x];
        JSAMPROW rp = row;
        jpeg_write_scanlines(ci, &rp, 1);
    }
    jpeg_finish_compress(ci);
    return LT_OK;
}

lt_status lt_jpeg_encode(lt_bytes *out, const uint8_t *pix, int c, int h, int w, int quality,
                         int progressive, char *err, size_t errlen) {
    if (errlen) err[0] = 0;
    out->len = 0;
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > LT_JPEG_MAX_SIDE || w > LT_JPEG_MAX_SIDE ||
        quality < 1 || quality > 100) {
        set_err(err, errlen, "invalid image layout for JPEG");
        return LT_EARG;
    }
    /* a first guess: about a byte per pixel and channel, grown on demand */
    size_t guess = (size_t)h * (size_t)w * (size_t)c / 2u + 4096u;
    uint8_t *row = (uint8_t *)malloc((size_t)w * (size_t)c);
    if (!row || !bytes_grow(out, guess)) {
        free(row);
        set_err(err, errlen, "out of memory");
        return LT_ENOMEM;
    }
    struct jpeg_compress_struct ci;
    jpeg_err e;
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_error_exit_cb;
    e.err = err;
    e.errlen = errlen;
    jpeg_dst d;
    memset(&d, 0, sizeof d);
    d.pub.init_destination = jdst_init;
    d.pub.empty_output_buffer = jdst_empty;
    d.pub.term_destination = jdst_term;
    d.out = out;
    d.e = &e;
    lt_status st = jpeg_encode_run(&ci, &e, &d, row, pix, c, h, w, quality, progressive);
    jpeg_destroy_compress(&ci);
    free(row);
    if (st != LT_OK) out->len = 0;
    return st;
}

/* ------------------------------------------------------------------ overlay */

lt_status lt_image_overlay(uint8_t *out, const uint8_t *img, int c, const int32_t *mask, int h,
                           int w, const uint8_t *palette, int palette_size, float alpha,
                           int background) {
    size_t plane = (size_t)h * (size_t)w;
    for (size_t p = 0; p < plane; p++) {
        int32_t m = mask[p];
        if (m < 0 || m >= palette_size) return LT_EINDEX;
    }
    for (size_t p = 0; p < plane; p++) {
        int32_t m = mask[p];
        for (int k = 0; k < 3; k++) {
            uint8_t v = img[(c == 1 ? 0 : (size_t)k) * plane + p];
            if (m != background) {
                float f = (1.0f - alpha) * (float)v + alpha * (float)palette[3 * m + k];
                v = (uint8_t)(f < 0.0f ? 0.0f : f > 255.0f ? 255.0f : f + 0.5f);
            }
            out[(size_t)k * plane + p] = v;
        }
    }
    return LT_OK;
}

/* ------------------------------------------------------------------ compositing */

/* Premultiplied bilinear sample of an RGBA (4, sh, sw) image at (sy, sx), edges clamped. */
static void sample_rgba(float o[4], const uint8_t *rgba, int sh, int sw, float sy, float sx) {
    if (sy < 0.0f) sy = 0.0f;
    if (sx < 0.0f) sx = 0.0f;
    if (sy > (float)(sh - 1)) sy = (float)(sh - 1);
    if (sx > (float)(sw - 1)) sx = (float)(sw - 1);
    int y0 = (int)sy, x0 = (int)sx;
    int y1 = y0 + 1 < sh ? y0 + 1 : y0, x1 = x0 + 1 < sw ? x0 + 1 : x0;
    float fy = sy - (float)y0, fx = sx - (float)x0;
    size_t plane = (size_t)sh * (size_t)sw;
    size_t idx[4] = {(size_t)y0 * (size_t)sw + (size_t)x0, (size_t)y0 * (size_t)sw + (size_t)x1,
                     (size_t)y1 * (size_t)sw + (size_t)x0, (size_t)y1 * (size_t)sw + (size_t)x1};
    float wt[4] = {(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx};
    for (int k = 0; k < 4; k++) o[k] = 0.0f;
    for (int j = 0; j < 4; j++) {
        float a = (float)rgba[3 * plane + idx[j]];
        o[3] += wt[j] * a;
        for (int k = 0; k < 3; k++)
            o[k] += wt[j] * (float)rgba[(size_t)k * plane + idx[j]] * a * (1.0f / 255.0f);
    }
}

void lt_image_composite(uint8_t *img, int32_t *mask, int h, int w, const uint8_t *rgba, int sh,
                        int sw, int y0, int x0, int dh, int dw, int32_t label) {
    if (dh < 1 || dw < 1 || sh < 1 || sw < 1) return;
    float scy = (float)sh / (float)dh, scx = (float)sw / (float)dw;
    int ky = (int)ceilf(scy), kx = (int)ceilf(scx);     /* supersampling when shrinking */
    if (ky < 1) ky = 1;
    if (kx < 1) kx = 1;
    if (ky > 4) ky = 4;
    if (kx > 4) kx = 4;
    size_t plane = (size_t)h * (size_t)w;
    for (int y = y0 < 0 ? 0 : y0; y < h && y < y0 + dh; y++) {
        for (int x = x0 < 0 ? 0 : x0; x < w && x < x0 + dw; x++) {
            float acc[4] = {0, 0, 0, 0};
            for (int a = 0; a < ky; a++) {
                for (int b = 0; b < kx; b++) {
                    float sy = ((float)(y - y0) + ((float)a + 0.5f) / (float)ky) * scy - 0.5f;
                    float sx = ((float)(x - x0) + ((float)b + 0.5f) / (float)kx) * scx - 0.5f;
                    float o[4];
                    sample_rgba(o, rgba, sh, sw, sy, sx);
                    for (int k = 0; k < 4; k++) acc[k] += o[k];
                }
            }
            float inv = 1.0f / (float)(ky * kx);
            float al = acc[3] * inv;
            size_t p = (size_t)y * (size_t)w + (size_t)x;
            for (int k = 0; k < 3; k++) {
                float bg = (float)img[(size_t)k * plane + p];
                float v = acc[k] * inv + bg * (1.0f - al * (1.0f / 255.0f));
                img[(size_t)k * plane + p] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f
                                                                                    : v + 0.5f);
            }
            if (al > 127.0f) mask[p] = label;
        }
    }
}

/* ------------------------------------------------------------------ textures */

static void rand_color(float c[3], lt_rng *g) {
    for (int k = 0; k < 3; k++) c[k] = 255.0f * lt_rng_uniformf(g);
}

static float smooth(float t) { return t * t * (3.0f - 2.0f * t); }

void lt_image_texture(uint8_t *img, int h, int w, int kind, lt_rng *g) {
    size_t plane = (size_t)h * (size_t)w;
    float c0[3], c1[3];
    rand_color(c0, g);
    rand_color(c1, g);
    /* a random unit direction, without trigonometry (sqrt is exactly rounded) */
    float dx = 2.0f * lt_rng_uniformf(g) - 1.0f, dy = 2.0f * lt_rng_uniformf(g) - 1.0f;
    float dn = sqrtf(dx * dx + dy * dy);
    if (dn < 1e-3f) { dx = 1.0f; dy = 0.0f; dn = 1.0f; }
    dx /= dn;
    dy /= dn;
    float period = 4.0f + 28.0f * lt_rng_uniformf(g);
    int cells = 2 + (int)lt_rng_below(g, 7);             /* value-noise grid 2..8 */
    float grid[9][9][3];
    for (int i = 0; i <= cells; i++)
        for (int j = 0; j <= cells; j++)
            rand_color(grid[i][j], g);
    float noise = 24.0f * lt_rng_uniformf(g);
    float diag = (float)(h > w ? h : w);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            float v[3];
            if (kind == 0) {
                float gy = (float)y / (float)h * (float)cells, gx = (float)x / (float)w * (float)cells;
                int iy = (int)gy, ix = (int)gx;
                float ty = smooth(gy - (float)iy), tx = smooth(gx - (float)ix);
                for (int k = 0; k < 3; k++) {
                    float a = grid[iy][ix][k] + (grid[iy][ix + 1][k] - grid[iy][ix][k]) * tx;
                    float b = grid[iy + 1][ix][k] + (grid[iy + 1][ix + 1][k] - grid[iy + 1][ix][k]) * tx;
                    v[k] = a + (b - a) * ty;
                }
            } else {
                float t;
                float proj = dx * (float)x + dy * (float)y;
                if (kind == 1) {                         /* triangle-wave stripes */
                    float ph = proj / period;
                    ph -= floorf(ph);
                    t = ph < 0.5f ? 2.0f * ph : 2.0f - 2.0f * ph;
                } else if (kind == 2) {                  /* checkerboard */
                    int cy = (int)floorf((float)y / period), cx = (int)floorf((float)x / period);
                    t = (float)((cy + cx) & 1);
                } else {                                 /* linear gradient */
                    t = proj / diag;
                    t = t < 0.0f ? -t : t;
                    if (t > 1.0f) t = 1.0f;
                }
                for (int k = 0; k < 3; k++) v[k] = c0[k] + (c1[k] - c0[k]) * t;
            }
            float n = noise * (2.0f * lt_rng_uniformf(g) - 1.0f);
            size_t p = (size_t)y * (size_t)w + (size_t)x;
            for (int k = 0; k < 3; k++) {
                float f = v[k] + n;
                img[(size_t)k * plane + p] = (uint8_t)(f < 0.0f ? 0.0f : f > 255.0f ? 255.0f
                                                                                    : f + 0.5f);
            }
        }
    }
}
