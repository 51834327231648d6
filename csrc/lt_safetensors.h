/* lt_safetensors.h: reading and writing the safetensors format (plain C, no Lua).
 * Layout: u64 little-endian header length H, H bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value"}}
 * then the data region; offsets are relative to its start.
 *
 *   lt_st_file f = {0};
 *   char err[256];
 *   if (lt_st_open(&f, "model.safetensors", err, sizeof err) != LT_OK) { puts(err); ... }
 *   for (size_t i = 0; i < f.n; i++) {
 *       lt_tensor t;   // shaped from f.entries[i] (dtype f.entries[i].dtype), then:
 *       lt_st_read(&f, i, &t, err, sizeof err);
 *   }
 *   lt_st_close(&f);                       // idempotent
 *
 * Reading accepts F32, I32, U8 and BOOL (as uint8) directly, and I64 converted to int32
 * when every value fits (PyTorch's BatchNorm num_batches_tracked is I64); any other dtype
 * (F16, BF16, F64, ...) is reported by name. Every header field is validated against the
 * file size before any data is read: the functions never read outside the file. Only
 * regular files are opened (a FIFO or device is refused at once, never waited on), and a
 * NUL character in any header string (tensor names, metadata) is refused rather than
 * silently cutting the name short (lt_st_write takes C strings: the Lua binding refuses
 * names and metadata with NUL before they get there).
 */
#ifndef LT_SAFETENSORS_H
#define LT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "lt_core.h"

#define LT_ST_MAX_HEADER 100000000u   /* same limit as the reference implementation */
#define LT_ST_ERRLEN 2048              /* room for a message with a long path and name */

typedef struct {
    char *name;
    char file_dtype[8];     /* as written in the file: "F32", "I64", ... */
    lt_dtype dtype;         /* dtype of the lunet tensor it loads into */
    int ndim;
    int64_t shape[LT_MAXDIM];
    uint64_t begin, end;    /* byte offsets relative to the data region */
} lt_st_entry;

typedef struct {
    FILE *fp;
    uint64_t data_start;    /* 8 + header length */
    uint64_t file_size;
    lt_st_entry *entries;   /* in file order (by begin offset) */
    size_t n;
    char **meta;            /* 2 * nmeta strings: key, value, key, value, ... */
    size_t nmeta;
} lt_st_file;

/* Opens and validates; on failure writes a message to err and leaves f closed. */
lt_status lt_st_open(lt_st_file *f, const char *path, char *err, size_t errlen);
/* Reads entry i into t, a contiguous tensor of the entry's dtype and shape. */
lt_status lt_st_read(lt_st_file *f, size_t i, lt_tensor *t, char *err, size_t errlen);
void lt_st_close(lt_st_file *f);

/* Writes tensors (names[i], tensors[i], any layout) and string metadata pairs
 * (meta[2k], meta[2k+1]) to path atomically: a temporary file in the same directory,
 * fsync, rename. Tensors are stored in the order given (callers sort the names). */
lt_status lt_st_write(const char *path, const char *const *names, const lt_tensor *const *tensors,
                      size_t n, const char *const *meta, size_t nmeta, char *err, size_t errlen);

#endif
