/* fuzz/fuzz_image.c: libFuzzer harness for the PNG and JPEG decoders of lt_image.c (built
 * twice: FUZZ_FORMAT=1 PNG, 2 JPEG). Each input is read as a header, checked against a
 * pixel limit (as image.load does, smaller here to keep runs fast), then decoded in every
 * mode that applies; what decodes is encoded again (PNG, and JPEG for 1/3 channels), so the
 * encoders see arbitrary pixels too. Errors are fine; crashes, leaks and sanitizer reports
 * are findings. */
#include <stdint.h>
#include <stdlib.h>

#include "lt_image.h"

#ifndef FUZZ_FORMAT
#define FUZZ_FORMAT LT_IMG_PNG
#endif
#define FUZZ_MAX_PIXELS (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (lt_image_sniff(data, size) != FUZZ_FORMAT) return 0;
    lt_image_info info;
    char err[512];
    if (lt_image_read_info(&info, data, size, err, sizeof err) != LT_OK) return 0;
    if (lt_image_check_size(&info, FUZZ_MAX_PIXELS, err, sizeof err) != LT_OK) return 0;
    size_t plane = (size_t)info.width * (size_t)info.height;
    for (int mode = LT_IMG_MODE_RGB; mode <= LT_IMG_MODE_UNCHANGED; mode++) {
        int c = lt_image_mode_channels(&info, (lt_image_mode)mode, err, sizeof err);
        if (c == 0) continue;
        int wide = lt_image_mode_wide(&info);
        void *out = malloc(plane * (size_t)c * (wide ? 4u : 1u));
        if (!out) return 0;
        if (lt_image_decode(out, (lt_image_mode)mode, &info, data, size, err, sizeof err) ==
            LT_OK) {
            size_t cap = lt_png_encode_bound(c, info.height, info.width, wide, 0);
            uint8_t *png = malloc(cap);
            size_t n = 0;
            if (png) {
                lt_png_encode(png, cap, &n, out, c, info.height, info.width, wide, NULL, 0, err,
                              sizeof err);
                free(png);
            }
            if (!wide && (c == 1 || c == 3) && mode == LT_IMG_MODE_RGB + (int)(size % 5)) {
                lt_bytes jpg = {NULL, 0, 0};
                lt_jpeg_encode(&jpg, out, c, info.height, info.width, 1 + (int)(size % 100),
                               (int)(size & 1), err, sizeof err);
                free(jpg.data);
            }
        }
        free(out);
    }
    return 0;
}
