/* lt_safetensors.c: safetensors reader (validating every header field against the file
 * before reading data) and atomic writer. JSON via Debian's libcjson. No Lua here. */
#include "lt_safetensors.h"
#include "lt_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static lt_status st_fail(lt_status st, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return st;
}

static int st_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static uint64_t st_read_u64le(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* Dtypes lunet reads: file name, element size in the file, lunet dtype. */
static int st_dtype_lookup(const char *name, size_t *elsize, lt_dtype *dt) {
    static const struct { const char *name; size_t size; lt_dtype dt; } known[] = {
        {"F32", 4, LT_FLOAT32}, {"I32", 4, LT_INT32}, {"U8", 1, LT_UINT8},
        {"BOOL", 1, LT_UINT8}, {"I64", 8, LT_INT32},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(name, known[i].name) == 0) {
            *elsize = known[i].size;
            *dt = known[i].dt;
            return 1;
        }
    return 0;
}

/* A JSON number that is a non-negative integer representable exactly in a double. */
static int st_json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    const double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0 || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

void lt_st_close(lt_st_file *f) {
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    for (size_t i = 0; i < f->n; i++) free(f->entries[i].name);
    free(f->entries);
    f->entries = NULL;
    f->n = 0;
    for (size_t i = 0; i < 2 * f->nmeta; i++) free(f->meta[i]);
    free(f->meta);
    f->meta = NULL;
    f->nmeta = 0;
}

static char *st_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int st_entry_cmp(const void *pa, const void *pb) {
    const lt_st_entry *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return 0;
}

static int st_name_cmp(const void *pa, const void *pb) {
    const lt_st_entry *const *a = pa, *const *b = pb;
    return strcmp((*a)->name, (*b)->name);
}

static void st_shape_str(const lt_st_entry *e, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < e->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)e->shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* Validates one tensor description; fills e (name already set). */
static lt_status st_parse_entry(lt_st_entry *e, const cJSON *obj, uint64_t data_len, char *err,
                                size_t errlen) {
    if (!cJSON_IsObject(obj))
        return st_fail(LT_EARG, err, errlen, "tensor '%s': header entry is not a JSON object",
                       e->name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(obj, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(obj, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(obj, "data_offsets");
    if (!cJSON_IsString(dt))
        return st_fail(LT_EARG, err, errlen, "tensor '%s': missing or non-string \"dtype\"", e->name);
    size_t elsize;
    if (!st_dtype_lookup(dt->valuestring, &elsize, &e->dtype))
        return st_fail(LT_EDTYPE, err, errlen,
                       "tensor '%s' has dtype %s, which lunet cannot load "
                       "(F32, I32, U8, BOOL, and I64 when its values fit in int32)",
                       e->name, dt->valuestring);
    snprintf(e->file_dtype, sizeof e->file_dtype, "%s", dt->valuestring);   /* a known name */
    if (!cJSON_IsArray(shape))
        return st_fail(LT_EARG, err, errlen, "tensor '%s': missing or non-array \"shape\"", e->name);
    const int nd = cJSON_GetArraySize(shape);
    if (nd > LT_MAXDIM)
        return st_fail(LT_ESHAPE, err, errlen, "tensor '%s': %d dimensions (lunet allows %d)",
                       e->name, nd, LT_MAXDIM);
    e->ndim = nd;
    uint64_t numel = 1;
    int overflow = 0;
    for (int d = 0; d < nd; d++) {
        uint64_t s;
        if (!st_json_uint(cJSON_GetArrayItem(shape, d), &s))
            return st_fail(LT_EARG, err, errlen,
                           "tensor '%s': shape entry %d is not a non-negative integer", e->name,
                           d + 1);
        e->shape[d] = (int64_t)s;
        if (s != 0 && numel > UINT64_MAX / s) overflow = 1;
        else numel *= s;
    }
    for (int d = 0; d < nd; d++)
        if (e->shape[d] == 0) { overflow = 0; numel = 0; }
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        !st_json_uint(cJSON_GetArrayItem(offs, 0), &e->begin) ||
        !st_json_uint(cJSON_GetArrayItem(offs, 1), &e->end))
        return st_fail(LT_EARG, err, errlen,
                       "tensor '%s': \"data_offsets\" must be two non-negative integers", e->name);
    char sh[LT_MAXDIM * 24 + 8];
    st_shape_str(e, sh, sizeof sh);
    /* lunet's tensors need the product of the non-zero sizes (their strides) in int64, even
     * when another size is 0 and the tensor is empty */
    int64_t strides_numel = 1;
    for (int d = 0; d < nd; d++)
        if (e->shape[d] > 0 && lt_mul_ovf(strides_numel, e->shape[d], &strides_numel))
            return st_fail(LT_EOVERFLOW, err, errlen,
                           "tensor '%s': shape %s has too many elements (the product of its "
                           "sizes exceeds 2^63)", e->name, sh);
    if (e->end < e->begin)
        return st_fail(LT_EARG, err, errlen, "tensor '%s': data_offsets [%llu, %llu] end before they begin",
                       e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
    if (overflow || numel > UINT64_MAX / elsize || numel * elsize != e->end - e->begin)
        return st_fail(LT_ESHAPE, err, errlen,
                       "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but shape %s of %s needs %s%llu",
                       e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                       (unsigned long long)(e->end - e->begin), sh, e->file_dtype,
                       overflow ? "more than " : "",
                       overflow ? (unsigned long long)UINT64_MAX : (unsigned long long)(numel * elsize));
    if (e->end > data_len)
        return st_fail(LT_EINDEX, err, errlen,
                       "tensor '%s': data_offsets [%llu, %llu] go beyond the end of the file (data region has %llu bytes)",
                       e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                       (unsigned long long)data_len);
    return LT_OK;
}

static lt_status st_parse_header(lt_st_file *f, const cJSON *root, char *err, size_t errlen) {
    if (!cJSON_IsObject(root))
        return st_fail(LT_EARG, err, errlen, "header is not a JSON object");
    const uint64_t data_len = f->file_size - f->data_start;
    size_t count = 0;
    const cJSON *meta = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c->string && strcmp(c->string, "__metadata__") == 0) {
            if (meta) return st_fail(LT_EARG, err, errlen, "header has \"__metadata__\" twice");
            meta = c;
        } else count++;
    }
    f->entries = calloc(count ? count : 1, sizeof *f->entries);
    if (!f->entries) return st_fail(LT_ENOMEM, err, errlen, "out of memory");
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        lt_st_entry *e = &f->entries[f->n];
        e->name = st_strdup(c->string ? c->string : "");
        if (!e->name) return st_fail(LT_ENOMEM, err, errlen, "out of memory");
        f->n++;
        lt_status st = st_parse_entry(e, c, data_len, err, errlen);
        if (st != LT_OK) return st;
    }
    /* duplicated names, in O(n log n): a header may hold millions of (empty) entries */
    if (f->n > 1) {
        const lt_st_entry **byname = malloc(f->n * sizeof *byname);
        if (!byname) return st_fail(LT_ENOMEM, err, errlen, "out of memory");
        for (size_t i = 0; i < f->n; i++) byname[i] = &f->entries[i];
        qsort(byname, f->n, sizeof *byname, st_name_cmp);
        for (size_t i = 1; i < f->n; i++)
            if (strcmp(byname[i - 1]->name, byname[i]->name) == 0) {
                lt_status st = st_fail(LT_EARG, err, errlen, "header names tensor '%s' twice",
                                       byname[i]->name);
                free(byname);
                return st;
            }
        free(byname);
    }
    qsort(f->entries, f->n, sizeof *f->entries, st_entry_cmp);
    for (size_t i = 1; i < f->n; i++) {
        const lt_st_entry *a = &f->entries[i - 1], *b = &f->entries[i];
        if (b->begin < a->end)
            return st_fail(LT_EARG, err, errlen,
                           "tensors '%s' and '%s' overlap (data_offsets [%llu, %llu] and [%llu, %llu])",
                           a->name, b->name, (unsigned long long)a->begin,
                           (unsigned long long)a->end, (unsigned long long)b->begin,
                           (unsigned long long)b->end);
    }
    if (meta) {
        if (!cJSON_IsObject(meta))
            return st_fail(LT_EARG, err, errlen, "\"__metadata__\" is not a JSON object");
        size_t nm = 0;
        for (const cJSON *c = meta->child; c; c = c->next) {
            if (!cJSON_IsString(c))
                return st_fail(LT_EARG, err, errlen,
                               "\"__metadata__\" value of '%s' is not a string", c->string);
            nm++;
        }
        f->meta = calloc(2 * nm + 1, sizeof *f->meta);
        if (!f->meta) return st_fail(LT_ENOMEM, err, errlen, "out of memory");
        for (const cJSON *c = meta->child; c; c = c->next) {
            f->meta[2 * f->nmeta] = st_strdup(c->string ? c->string : "");
            f->meta[2 * f->nmeta + 1] = st_strdup(c->valuestring);
            f->nmeta++;
            if (!f->meta[2 * f->nmeta - 2] || !f->meta[2 * f->nmeta - 1])
                return st_fail(LT_ENOMEM, err, errlen, "out of memory");
        }
    }
    return LT_OK;
}

/* A NUL can enter a JSON string as the escape \u0000 (or as a raw byte, which cJSON keeps):
 * cJSON's C strings would then silently cut tensor names and metadata short. Scans the JSON
 * text [buf, end) with its escapes and refuses any NUL. */
static lt_status st_check_nul(const char *buf, const char *end, const char *path, char *err,
                              size_t errlen) {
    for (const char *p = buf; p < end; p++) {
        if (*p == '\0')
            return st_fail(LT_EARG, err, errlen,
                           "'%s': header has a NUL byte at byte %zu (tensor names and metadata "
                           "cannot hold NUL)", path, (size_t)(p - buf));
        if (*p != '\\' || p + 1 >= end) continue;
        p++;                                     /* the escaped character */
        if (*p == 'u' && end - p >= 5 && memcmp(p + 1, "0000", 4) == 0)
            return st_fail(LT_EARG, err, errlen,
                           "'%s': header has a NUL character (\\u0000) at byte %zu (tensor "
                           "names and metadata cannot hold NUL)", path, (size_t)(p - 1 - buf));
    }
    return LT_OK;
}

lt_status lt_st_open(lt_st_file *f, const char *path, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    if (!st_little_endian())
        return st_fail(LT_EARG, err, errlen, "big-endian hosts are not supported");
    int64_t size;
    int fd = lt_file_open(path, &size, err, errlen);   /* regular files only: never blocks */
    if (fd < 0) return LT_EARG;
    f->fp = fdopen(fd, "rb");
    if (!f->fp) {
        close(fd);
        return st_fail(LT_ENOMEM, err, errlen, "cannot open '%s': %s", path, strerror(errno));
    }
    f->file_size = (uint64_t)size;
    unsigned char lenbuf[8];
    if (f->file_size < 8 || fread(lenbuf, 1, 8, f->fp) != 8) {
        lt_st_close(f);
        return st_fail(LT_EARG, err, errlen,
                       "'%s' is %llu bytes, too short for a safetensors header length", path,
                       (unsigned long long)size);
    }
    const uint64_t hlen = st_read_u64le(lenbuf);
    if (hlen > f->file_size - 8 || hlen > LT_ST_MAX_HEADER) {
        lt_st_close(f);
        return st_fail(LT_EARG, err, errlen,
                       "'%s': header length %llu exceeds the %llu bytes after it%s", path,
                       (unsigned long long)hlen, (unsigned long long)(f->file_size - 8),
                       hlen > LT_ST_MAX_HEADER ? " (or the 100 MB limit)" : "");
    }
    f->data_start = 8 + hlen;
    char *buf = malloc((size_t)hlen + 1);
    if (!buf) {
        lt_st_close(f);
        return st_fail(LT_ENOMEM, err, errlen, "out of memory");
    }
    if (fread(buf, 1, (size_t)hlen, f->fp) != (size_t)hlen) {
        free(buf);
        lt_st_close(f);
        return st_fail(LT_EARG, err, errlen, "'%s': cannot read the header", path);
    }
    buf[hlen] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, (size_t)hlen, &end, 0);
    lt_status st = LT_OK;
    if (!root) {
        const size_t at = end && end >= buf ? (size_t)(end - buf) : 0;
        st = st_fail(LT_EARG, err, errlen, "'%s': header is not valid JSON (at byte %zu of %llu)",
                     path, at, (unsigned long long)hlen);
    } else {
        for (const char *p = end; p && p < buf + hlen; p++)   /* only padding may follow */
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\0') {
                st = st_fail(LT_EARG, err, errlen,
                             "'%s': header has trailing bytes after the JSON object (at byte %zu)",
                             path, (size_t)(p - buf));
                break;
            }
        if (st == LT_OK) st = st_check_nul(buf, end, path, err, errlen);
        if (st == LT_OK) {
            char msg[LT_ST_ERRLEN];
            st = st_parse_header(f, root, msg, sizeof msg);
            if (st != LT_OK) st_fail(st, err, errlen, "'%s': %s", path, msg);
        }
    }
    cJSON_Delete(root);
    free(buf);
    if (st != LT_OK) lt_st_close(f);
    return st;
}

lt_status lt_st_read(lt_st_file *f, size_t i, lt_tensor *t, char *err, size_t errlen) {
    if (!f->fp || i >= f->n) return st_fail(LT_EARG, err, errlen, "file is closed");
    const lt_st_entry *e = &f->entries[i];
    const uint64_t nbytes = e->end - e->begin;
    const uint64_t numel = (uint64_t)lt_numel(t);
    const int is64 = strcmp(e->file_dtype, "I64") == 0;
    if (t->dtype != e->dtype || !lt_is_contiguous(t) || numel * (is64 ? 8u : lt_dtype_size(t->dtype)) != nbytes)
        return st_fail(LT_ESHAPE, err, errlen, "tensor '%s': destination does not fit", e->name);
    if (nbytes == 0) return LT_OK;
    if (fseeko(f->fp, (off_t)(f->data_start + e->begin), SEEK_SET) != 0)
        return st_fail(LT_EARG, err, errlen, "tensor '%s': cannot seek: %s", e->name, strerror(errno));
    if (!is64) {
        if (fread(lt_data(t), 1, (size_t)nbytes, f->fp) != (size_t)nbytes)
            return st_fail(LT_EARG, err, errlen, "tensor '%s': file ended early", e->name);
        return LT_OK;
    }
    int32_t *out = lt_i32(t);
    unsigned char chunk[8 * 1024];
    for (uint64_t k = 0; k < numel;) {
        const size_t m = numel - k < 1024 ? (size_t)(numel - k) : 1024;
        if (fread(chunk, 8, m, f->fp) != m)
            return st_fail(LT_EARG, err, errlen, "tensor '%s': file ended early", e->name);
        for (size_t j = 0; j < m; j++, k++) {
            const int64_t v = (int64_t)st_read_u64le(chunk + 8 * j);
            if (v < INT32_MIN || v > INT32_MAX)
                return st_fail(LT_EDTYPE, err, errlen,
                               "tensor '%s': I64 value %lld at element %llu does not fit in int32",
                               e->name, (long long)v, (unsigned long long)k + 1);
            out[k] = (int32_t)v;
        }
    }
    return LT_OK;
}

/* ---- writer ---- */

static const char *st_dtype_name(lt_dtype dt) {
    return dt == LT_FLOAT32 ? "F32" : dt == LT_INT32 ? "I32" : "U8";
}

/* Writes the tensor's elements in row-major order (any strides). */
static int st_write_data(FILE *fp, const lt_tensor *t) {
    const int64_t n = lt_numel(t);
    const size_t es = lt_dtype_size(t->dtype);
    if (n == 0) return 1;
    if (lt_is_contiguous(t)) return fwrite(lt_data(t), es, (size_t)n, fp) == (size_t)n;
    unsigned char buf[4096 * 4];
    const int64_t per = (int64_t)(sizeof buf / es);
    for (int64_t k = 0; k < n;) {
        const int64_t m = n - k < per ? n - k : per;
        for (int64_t j = 0; j < m; j++) {
            const double v = lt_get_flat(t, k + j);
            if (t->dtype == LT_FLOAT32) { float x = (float)v; memcpy(buf + 4 * j, &x, 4); }
            else if (t->dtype == LT_INT32) { int32_t x = (int32_t)v; memcpy(buf + 4 * j, &x, 4); }
            else buf[j] = (uint8_t)v;
        }
        if (fwrite(buf, es, (size_t)m, fp) != (size_t)m) return 0;
        k += m;
    }
    return 1;
}

static char *st_build_header(const char *const *names, const lt_tensor *const *tensors, size_t n,
                             const char *const *meta, size_t nmeta) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    int ok = 1;
    if (nmeta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        ok = m != NULL;
        for (size_t k = 0; ok && k < nmeta; k++)
            ok = cJSON_AddStringToObject(m, meta[2 * k], meta[2 * k + 1]) != NULL;
    }
    uint64_t off = 0;
    for (size_t i = 0; ok && i < n; i++) {
        const lt_tensor *t = tensors[i];
        const uint64_t nb = (uint64_t)lt_numel(t) * lt_dtype_size(t->dtype);
        cJSON *e = cJSON_AddObjectToObject(root, names[i]);
        cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *offs = NULL;
        ok = e && cJSON_AddStringToObject(e, "dtype", st_dtype_name(t->dtype)) && shape;
        for (int d = 0; ok && d < t->ndim; d++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->size[d]));
        if (ok) offs = cJSON_AddArrayToObject(e, "data_offsets");
        ok = ok && offs && cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off)) &&
             cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + nb)));
        off += nb;
    }
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

lt_status lt_st_write(const char *path, const char *const *names, const lt_tensor *const *tensors,
                      size_t n, const char *const *meta, size_t nmeta, char *err, size_t errlen) {
    if (!st_little_endian())
        return st_fail(LT_EARG, err, errlen, "big-endian hosts are not supported");
    for (size_t i = 0; i < n; i++)
        if (!lt_data(tensors[i]) && lt_numel(tensors[i]) > 0)
            return st_fail(LT_EFREED, err, errlen, "tensor '%s' was freed", names[i]);
    char *header = st_build_header(names, tensors, n, meta, nmeta);
    if (!header) return st_fail(LT_ENOMEM, err, errlen, "out of memory building the header");
    const size_t hlen = strlen(header);
    const size_t padded = (hlen + 7) / 8 * 8;
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        free(header);
        return st_fail(LT_ENOMEM, err, errlen, "out of memory");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmpXXXXXX", 11);
    lt_status st = LT_OK;
    FILE *fp = NULL;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = st_fail(LT_EARG, err, errlen, "cannot create a temporary file next to '%s': %s", path,
                     strerror(errno));
        goto done;
    }
    fchmod(fd, 0644);
    fp = fdopen(fd, "wb");
    if (!fp) {
        close(fd);
        st = st_fail(LT_EARG, err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    unsigned char lenbuf[8];
    for (int k = 0; k < 8; k++) lenbuf[k] = (unsigned char)(((uint64_t)padded >> (8 * k)) & 0xff);
    int ok = fwrite(lenbuf, 1, 8, fp) == 8 && fwrite(header, 1, hlen, fp) == hlen;
    for (size_t k = hlen; ok && k < padded; k++) ok = fputc(' ', fp) != EOF;
    for (size_t i = 0; ok && i < n; i++) ok = st_write_data(fp, tensors[i]);
    ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    const int saved_errno = errno;
    if (fclose(fp) != 0) ok = 0;
    fp = NULL;
    if (!ok) {
        st = st_fail(LT_EARG, err, errlen, "cannot write '%s': %s", path, strerror(saved_errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        st = st_fail(LT_EARG, err, errlen, "cannot rename the temporary file to '%s': %s", path,
                     strerror(errno));
        goto fail;
    }
    {   /* make the rename durable: fsync the directory (best effort) */
        char *dir = st_strdup(path);
        if (dir) {
            char *slash = strrchr(dir, '/');
            if (slash == dir) slash[1] = '\0';
            else if (slash) *slash = '\0';
            else { dir[0] = '.'; dir[1] = '\0'; }
            int dfd = open(dir, O_RDONLY);
            if (dfd >= 0) { fsync(dfd); close(dfd); }
            free(dir);
        }
    }
    goto done;
fail:
    unlink(tmp);
done:
    free(tmp);
    free(header);
    return st;
}
