/* fuzz/fuzz_safetensors.c: libFuzzer harness for the safetensors reader (lt_safetensors.c):
 * each input is written to a file, opened and validated, and every tensor it describes is
 * read into a tensor of its shape. Errors are fine; crashes, leaks, sanitizer reports and
 * reads outside the file are findings. */
#include <stdint.h>

#include "fuzz_common.h"
#include "lt_context.h"
#include "lt_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(data, size, ".safetensors");
    lt_st_file f;
    char err[LT_ST_ERRLEN];
    if (lt_st_open(&f, path, err, sizeof err) != LT_OK) return 0;
    lt_context *ctx = lt_context_new();
    if (!ctx) {
        lt_st_close(&f);
        return 0;
    }
    for (size_t i = 0; i < f.n; i++) {
        lt_tensor t;
        const lt_st_entry *e = &f.entries[i];
        if (lt_tensor_init(ctx, &t, e->dtype, e->ndim, e->shape) != LT_OK) {
            lt_tensor_release(&t);
            continue;
        }
        lt_st_read(&f, i, &t, err, sizeof err);
        lt_tensor_release(&t);
    }
    lt_st_close(&f);
    lt_st_close(&f);   /* idempotent */
    lt_context_release(ctx);
    return 0;
}
