/* lt_idx.h: reader for IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or
 * plain, through zlib. Two phases so the caller can allocate the output in between:
 *
 *   lt_idx_header hd; char err[256];
 *   if (lt_idx_read_header(&hd, "train-images-idx3-ubyte.gz", err, sizeof err) != LT_OK) ...
 *   // hd.dtype (LT_UINT8 / LT_INT32 / LT_FLOAT32), hd.ndim, hd.size[] (e.g. 60000, 28, 28)
 *   void *out = malloc(lt_idx_nbytes(&hd));
 *   if (lt_idx_read_data(out, &hd, path, err, sizeof err) != LT_OK) ...
 */
#ifndef LT_IDX_H
#define LT_IDX_H

#include <stddef.h>
#include <stdint.h>
#include "lt_core.h"

typedef struct lt_idx_header {
    int code;                  /* IDX type byte: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64 */
    lt_dtype dtype;            /* output dtype: uint8 (0x08), float32 (0x0D, 0x0E), else int32 */
    int ndim;
    int64_t size[LT_MAXDIM];
    size_t header_bytes;
} lt_idx_header;

/* Reads and checks the header: only regular files are opened (a FIFO or device is refused
 * at once), and the claimed dimensions must fit in the file (plain) or in what a gzip file
 * of that size can expand to (1032:1), so a lying header never causes a huge allocation. */
lt_status lt_idx_read_header(lt_idx_header *hd, const char *path, char *err, size_t errlen);
size_t lt_idx_nbytes(const lt_idx_header *hd);  /* output bytes (elements * dtype size) */
/* Reads all elements into out (contiguous, hd->dtype), converting from big-endian. */
lt_status lt_idx_read_data(void *out, const lt_idx_header *hd, const char *path, char *err,
                           size_t errlen);

/* Segmentation masks from class labels: out[n, i] = (img[n, i] > threshold) ? label[n] + 1 : 0.
 * img (N, P) uint8, labels (N) int32, out (N, P) int32; P pixels per item. */
void lt_idx_label_masks(int32_t *out, const uint8_t *img, const int32_t *labels, int64_t n,
                        int64_t p, int threshold);

#endif
