/* lt_image.h: PNG (libpng) and JPEG (libjpeg-turbo) decoding and PNG/JPEG encoding on raw
 * in-memory buffers, plus small image kernels (overlay, compositing, textures). No Lua here.
 *
 *   lt_image_info info; char err[256];
 *   if (lt_image_read_info(&info, buf, len, err, sizeof err) != LT_OK) { ... err ... }
 *   int c = lt_image_mode_channels(&info, LT_IMG_MODE_RGB);       // 3
 *   uint8_t *pix = malloc((size_t)c * info.height * info.width);   // (C, H, W) planar
 *   if (lt_image_decode(pix, LT_IMG_MODE_RGB, &info, buf, len, err, sizeof err) != LT_OK) ...
 *
 * Between the phases, lt_image_check_size(&info, LT_IMAGE_MAX_PIXELS, err, sizeof err)
 * refuses headers that claim more pixels than the caller accepts (decompression bombs).
 *
 * Decoding is two-phase so that callers can allocate the output (e.g. Lua-owned memory)
 * between the phases: every library object lives inside one call, errors from libpng and
 * libjpeg are caught with setjmp in that call, and nothing leaks. 16-bit PNG samples are
 * written as int32 (0..65535); everything else as uint8.
 */
#ifndef LT_IMAGE_H
#define LT_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "lt_core.h"

typedef enum { LT_IMG_UNKNOWN = 0, LT_IMG_PNG, LT_IMG_JPEG } lt_image_format;

/* Colour layout as stored in the file. */
typedef enum {
    LT_IMG_GRAY = 0, LT_IMG_GRAY_ALPHA, LT_IMG_RGB, LT_IMG_RGBA, LT_IMG_PALETTE, LT_IMG_CMYK
} lt_image_color;

/* Requested output layout:
 *   RGB 3 channels, GRAY 1 (PIL's ITU-R 601-2 luma), RGBA 4 (alpha 255 when absent),
 *   INDEX 1 channel of raw palette indices or raw gray values (PNG palette/gray only),
 *   UNCHANGED the stored channels (palette expanded to RGB, or RGBA with tRNS). */
typedef enum {
    LT_IMG_MODE_RGB = 0, LT_IMG_MODE_GRAY, LT_IMG_MODE_RGBA, LT_IMG_MODE_INDEX,
    LT_IMG_MODE_UNCHANGED
} lt_image_mode;

typedef struct lt_image_info {
    lt_image_format format;
    lt_image_color color;
    int width, height;
    int bit_depth;           /* bits per sample as stored: 1, 2, 4, 8 or 16 */
    int has_trns;            /* PNG tRNS chunk present (palette/gray/rgb transparency) */
    int interlaced;
    int palette_size;        /* PNG palette entries (0 if none) */
    uint8_t palette[256 * 3];
} lt_image_info;

lt_image_format lt_image_sniff(const uint8_t *buf, size_t len);
const char *lt_image_color_name(lt_image_color c);

/* Reads the header. On failure returns LT_EARG with a message in err. */
lt_status lt_image_read_info(lt_image_info *info, const uint8_t *buf, size_t len, char *err,
                             size_t errlen);
/* The pixel limit against decompression bombs: LT_EARG with "image claims W x H = N pixels,
 * more than the limit of M pixels" when width * height > max_pixels (max_pixels < 0: no
 * limit). Call it after lt_image_read_info, before allocating the output. PIL's
 * MAX_IMAGE_PIXELS is the usual default (LT_IMAGE_MAX_PIXELS). */
#define LT_IMAGE_MAX_PIXELS 89478485
lt_status lt_image_check_size(const lt_image_info *info, int64_t max_pixels, char *err,
                              size_t errlen);
/* Output channels for the mode, or 0 when the mode does not apply (err says why). */
int lt_image_mode_channels(const lt_image_info *info, lt_image_mode mode, char *err,
                           size_t errlen);
/* 1 when the output is int32 (16-bit PNG), else uint8. */
int lt_image_mode_wide(const lt_image_info *info);
/* Decodes into out: (C, H, W) planar, uint8 or int32 as lt_image_mode_wide says. */
lt_status lt_image_decode(void *out, lt_image_mode mode, const lt_image_info *info,
                          const uint8_t *buf, size_t len, char *err, size_t errlen);

/* Upper bound of the encoded size of a PNG with these parameters. */
size_t lt_png_encode_bound(int c, int h, int w, int bits16, int palette_size);
/* Encodes a PNG into dst (capacity cap, from lt_png_encode_bound); *outlen receives the size.
 * pix: (C, H, W) planar, uint8 (bits16 = 0) or int32 0..65535 (bits16 = 1). C = 1 gray,
 * 2 gray+alpha, 3 RGB, 4 RGBA. With palette (palette_size entries of RGB) C must be 1 and
 * the image is written as an 8-bit palette PNG of the indices. */
lt_status lt_png_encode(uint8_t *dst, size_t cap, size_t *outlen, const void *pix, int c, int h,
                        int w, int bits16, const uint8_t *palette, int palette_size,
                        char *err, size_t errlen);

/* A growable byte buffer the encoders write into; its owner frees data, also after a
 * failed encode (the binding keeps it in a box the collector frees). */
typedef struct lt_bytes {
    uint8_t *data;
    size_t len, cap;
} lt_bytes;

#define LT_JPEG_MAX_SIDE 65500   /* libjpeg's JPEG_MAX_DIMENSION */
/* Encodes a JPEG (libjpeg-turbo, 4:2:0 chroma like PIL and OpenCV, quality 1..100; baseline,
 * or progressive with libjpeg's standard scan script) into out. pix: (C, H, W) planar uint8
 * with C = 1 (gray) or 3 (RGB); sides up to LT_JPEG_MAX_SIDE. */
lt_status lt_jpeg_encode(lt_bytes *out, const uint8_t *pix, int c, int h, int w, int quality,
                         int progressive, char *err, size_t errlen);

/* out = (1 - alpha) * img + alpha * palette[mask] where mask != background (background < 0:
 * every pixel is coloured). img (C, H, W) uint8 with C = 1 (gray, broadcast) or 3;
 * mask (H, W) int32; out (3, H, W). Mask values must be < palette_size (checked by caller
 * except 0..palette_size-1: returns LT_EINDEX otherwise). */
lt_status lt_image_overlay(uint8_t *out, const uint8_t *img, int c, const int32_t *mask, int h,
                           int w, const uint8_t *palette, int palette_size, float alpha,
                           int background);

/* Composites an RGBA cut-out (4, sh, sw) scaled to (dh, dw) (bilinear, premultiplied alpha)
 * at top-left (y0, x0) of img (3, H, W) uint8; mask (H, W) int32 gets `label` where the
 * resampled alpha > 127. Parts outside the image are clipped. */
void lt_image_composite(uint8_t *img, int32_t *mask, int h, int w, const uint8_t *rgba, int sh,
                        int sw, int y0, int x0, int dh, int dw, int32_t label);

/* Fills img (3, H, W) uint8 with a procedural texture drawn from g: kind 0 smooth value
 * noise, 1 stripes, 2 checkerboard, 3 linear gradient, plus per-pixel noise. */
void lt_image_texture(uint8_t *img, int h, int w, int kind, lt_rng *g);

#endif
