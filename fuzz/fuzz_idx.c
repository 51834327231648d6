/* fuzz/fuzz_idx.c: libFuzzer harness for the IDX reader (lt_idx.c), plain and gzip: each
 * input is written to a file, its header read and checked against the file size, and the
 * data read into a buffer of the claimed size. Errors are fine; crashes, leaks, sanitizer
 * reports and allocations beyond what the file can hold are findings. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "lt_idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(data, size, ".idx");
    lt_idx_header hd;
    char err[512];
    if (lt_idx_read_header(&hd, path, err, sizeof err) != LT_OK) return 0;
    size_t nbytes = lt_idx_nbytes(&hd);
    /* the header check bounds the claim by what the file can hold (1032:1 for gzip) */
    if (nbytes > 4u * 1100u * size + 16384u) abort();   /* int8 input -> int32 output */
    void *out = malloc(nbytes ? nbytes : 1);
    if (!out) return 0;
    lt_idx_read_data(out, &hd, path, err, sizeof err);
    free(out);
    return 0;
}
