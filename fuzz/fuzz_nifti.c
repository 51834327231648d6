/* fuzz/fuzz_nifti.c: libFuzzer harness for the NIfTI-1 reader (lt_nifti.c over niftiio and
 * znzlib), plain and gzip (detected from the bytes): each input is written to a file, its
 * header validated, and the voxels read into a buffer of the claimed size. Errors are fine;
 * crashes, leaks, sanitizer reports, output from the library, and allocations beyond what
 * the file can hold are findings. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "lt_nifti.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(data, size, ".nii");
    lt_nifti_header h;
    char err[768];
    if (lt_nifti_read_header(&h, path, (int64_t)1 << 24, err, sizeof err) != LT_OK) return 0;
    lt_dtype dt = lt_nifti_out_dtype(&h);
    size_t nbytes = (size_t)h.nvox * lt_dtype_size(dt);
    /* the header check bounds the claim by what the file can hold (1100:1 for gzip), and the
     * output is at most 4 bytes per stored byte (uint8 -> float32 when scaled) */
    if ((size_t)h.nvox > 1100u * size + 16384u) abort();
    void *out = malloc(nbytes ? nbytes : 1);
    if (!out) return 0;
    lt_nifti_read_data(out, dt, &h, path, err, sizeof err);
    free(out);
    return 0;
}
