/* lua_classic.c: Lua binding of the classical segmentation kernels (csrc/lt_classic*.c) as
 * core.classic.*. Raw functions taking plain values: lua/lunet/classic/ checks the options and
 * builds the public API; the tensors are checked here, with the public function's name. */
#include <math.h>
#include <string.h>

#include "lt_lua.h"
#include "lt_classic.h"

/* Checks an image tensor (H x W, or D x H x W when allow3 is set; nonempty) and fills dims
 * as D x H x W (D = 1 for 2-D). */
static void image_dims(lua_State *L, const lt_tensor *t, const char *fn, const char *arg,
                       int64_t dims[3], int allow3) {
    char s[128];
    if (t->ndim != 2 && !(allow3 && t->ndim == 3))
        lt_lua_error(L, "%s: %s must be %s, got a tensor of shape %s", fn, arg,
                     allow3 ? "H x W or D x H x W" : "H x W", lt_shape_str(t, s, sizeof s));
    for (int d = 0; d < t->ndim; d++)
        if (t->size[d] == 0)
            lt_lua_error(L, "%s: %s is empty (shape %s)", fn, arg, lt_shape_str(t, s, sizeof s));
    dims[0] = t->ndim == 3 ? t->size[0] : 1;
    dims[1] = t->size[t->ndim - 2];
    dims[2] = t->size[t->ndim - 1];
    int64_t n;
    if (lt_mul_ovf(dims[0], dims[1], &n) || lt_mul_ovf(n, dims[2], &n) || n >= INT32_MAX)
        lt_lua_error(L, "%s: %s has %s pixels, more than the 2147483646 int32 ids allow", fn, arg,
                     lt_shape_str(t, s, sizeof s));
}

/* The tensor at idx as a contiguous tensor of dtype dt (itself, or a pushed converted copy). */
static lt_tensor *as_dtype(lua_State *L, int idx, lt_dtype dt, const char *fn, const char *arg) {
    lt_tensor *t = lt_lua_checktensor(L, idx, fn, arg);
    if (t->dtype == dt && lt_is_contiguous(t)) return t;
    lt_tensor *c = lt_lua_newtensor_uninit(L, dt, t->ndim, t->size, fn);
    lt_status st = lt_copy(lt_lua_ctx(L), c, t);
    if (st == LT_ERANGE) {
        char b[64];
        lt_lua_error(L, "%s: %s holds %s, which does not fit %s", fn, arg,
                     lt_numstr(b, sizeof b, lt_last_range_error(lt_lua_ctx(L))->value), lt_dtype_name(dt));
    }
    lt_lua_check(L, st, fn);
    return c;
}

/* The tensor at idx as a pushed contiguous uint8 0/1 tensor (nonzero -> 1). */
static uint8_t *as_mask(lua_State *L, int idx, const char *fn, const char *arg) {
    int pushed;
    lt_tensor *t = lt_lua_contiguous(L, idx, fn, arg, &pushed);
    int64_t n = lt_numel(t);
    lt_tensor *m = lt_lua_newtensor_uninit(L, LT_UINT8, t->ndim, t->size, fn);
    uint8_t *o = lt_u8(m);
    const void *d = lt_data(t);
    if (n > 0 && (d == NULL || o == NULL)) lt_lua_check(L, LT_EFREED, fn);
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case LT_UINT8: o[i] = ((const uint8_t *)d)[i] != 0; break;
        case LT_INT32: o[i] = ((const int32_t *)d)[i] != 0; break;
        default: o[i] = ((const float *)d)[i] != 0.0f; break;
        }
    }
    return o;
}

static void same_shape(lua_State *L, const lt_tensor *a, const lt_tensor *b, const char *fn,
                       const char *an, const char *bn) {
    char s1[128], s2[128];
    int same = a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++) same = a->size[d] == b->size[d];
    if (!same)
        lt_lua_error(L, "%s: %s has shape %s, %s has shape %s (they must be equal)", fn, bn,
                     lt_shape_str(b, s2, sizeof s2), an, lt_shape_str(a, s1, sizeof s1));
}

static int check_connectivity(lua_State *L, int idx, int ndim, const char *fn) {
    lua_Integer c = luaL_optinteger(L, idx, ndim);
    if (c < 1 || c > ndim)
        lt_lua_error(L, "%s: connectivity must be in 1..%d for a %d-D image, got %I", fn, ndim, ndim,
                     (lua_Integer)c);
    return (int)c;
}

/* label(x, connectivity|nil, naive, fn) -> int32 ids, count */
static int l_label(lua_State *L) {
    lua_settop(L, 4);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 4, "label");
    lt_tensor *x = lt_lua_checktensor(L, 1, fn, "mask");
    int64_t dims[3];
    image_dims(L, x, fn, "mask", dims, 1);
    int conn = check_connectivity(L, 2, x->ndim, fn);
    int naive = lua_toboolean(L, 3);
    int pushed;
    x = lt_lua_contiguous(L, 1, fn, "mask", &pushed);
    lt_tensor *out = lt_lua_newtensor_uninit(L, LT_INT32, x->ndim, x->size, fn);
    int64_t count = 0;
    lt_status st = naive ? lt_classic_label_naive(lt_i32(out), &count, x, dims, conn)
                         : lt_classic_label(lt_i32(out), &count, x, dims, conn);
    lt_lua_check(L, st, fn);
    lua_pushinteger(L, (lua_Integer)count);
    return 2;
}

/* regionprops(labels, fn) -> list of {label, area, bbox = {lo..., hi...}, centroid = {...}}
 * with 1-based coordinates, ordered by label. */
static int l_regionprops(lua_State *L) {
    lua_settop(L, 2);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 2, "regionprops");
    lt_tensor *x = lt_lua_checktensor(L, 1, fn, "labels");
    if (x->dtype == LT_FLOAT32)
        lt_lua_error(L, "%s: labels must be an int32 or uint8 tensor, got float32", fn);
    int64_t dims[3];
    image_dims(L, x, fn, "labels", dims, 1);
    lt_tensor *lab = as_dtype(L, 1, LT_INT32, fn, "labels");
    const int32_t *p = lt_i32(lab);
    int64_t n = lt_numel(lab), maxl = 0;
    for (int64_t i = 0; i < n; i++) {
        if (p[i] < 0)
            lt_lua_error(L, "%s: labels must be >= 0 (0 is background), got %I", fn, (lua_Integer)p[i]);
        if (p[i] > maxl) maxl = p[i];
    }
    if (maxl > n)
        lt_lua_error(L, "%s: the largest label %I exceeds the pixel count %I: relabel the ids "
                     "to 1..K first", fn, (lua_Integer)maxl, (lua_Integer)n);
    size_t k = (size_t)maxl + 1;
    int64_t *area = lua_newuserdatauv(L, k * sizeof *area, 0);
    int64_t *bbox = lua_newuserdatauv(L, k * 6 * sizeof *bbox, 0);
    double *sum = lua_newuserdatauv(L, k * 3 * sizeof *sum, 0);
    memset(area, 0, k * sizeof *area);
    memset(bbox, 0, k * 6 * sizeof *bbox);
    memset(sum, 0, k * 3 * sizeof *sum);
    lt_lua_check(L, lt_classic_regionprops(area, bbox, sum, p, dims, maxl), fn);
    int nd = x->ndim, first = nd == 3 ? 0 : 1;
    lua_newtable(L);
    lua_Integer m = 0;
    for (int64_t l = 1; l <= maxl; l++) {
        if (area[l] == 0) continue;
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, (lua_Integer)l); lua_setfield(L, -2, "label");
        lua_pushinteger(L, (lua_Integer)area[l]); lua_setfield(L, -2, "area");
        lua_createtable(L, 2 * nd, 0);
        for (int j = 0; j < nd; j++) {
            lua_pushinteger(L, (lua_Integer)bbox[l * 6 + first + j] + 1);
            lua_rawseti(L, -2, j + 1);
            lua_pushinteger(L, (lua_Integer)bbox[l * 6 + 3 + first + j] + 1);
            lua_rawseti(L, -2, nd + j + 1);
        }
        lua_setfield(L, -2, "bbox");
        lua_createtable(L, nd, 0);
        for (int j = 0; j < nd; j++) {
            lua_pushnumber(L, sum[l * 3 + first + j] / (double)area[l] + 1.0);
            lua_rawseti(L, -2, j + 1);
        }
        lua_setfield(L, -2, "centroid");
        lua_rawseti(L, -2, ++m);
    }
    return 1;
}

/* edt(x, spacing_table|nil, return_indices, naive, fn) -> float32 distances [, int32 indices
 * (ndim x ...) with the 1-based coordinates of the nearest zero (0 when there is none)] */
static int l_edt(lua_State *L) {
    lua_settop(L, 5);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 5, "distance_transform_edt");
    lt_tensor *x = lt_lua_checktensor(L, 1, fn, "mask");
    int64_t dims[3];
    image_dims(L, x, fn, "mask", dims, 1);
    double sp[3] = {1.0, 1.0, 1.0};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        for (int j = 0; j < x->ndim; j++) {
            lua_geti(L, 2, j + 1);
            sp[3 - x->ndim + j] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    }
    int want_idx = lua_toboolean(L, 3), naive = lua_toboolean(L, 4);
    int pushed;
    x = lt_lua_contiguous(L, 1, fn, "mask", &pushed);
    int base = lua_gettop(L);
    lt_tensor *dist = lt_lua_newtensor_uninit(L, LT_FLOAT32, x->ndim, x->size, fn);
    int64_t n = lt_numel(x);
    int64_t *idx = NULL;
    if (want_idx) idx = lua_newuserdatauv(L, (size_t)n * sizeof *idx, 0);
    lt_status st = naive ? lt_classic_edt_naive(lt_f32(dist), idx, x, dims, sp)
                         : lt_classic_edt(lt_lua_ctx(L), lt_f32(dist), idx, x, dims, sp);
    lt_lua_check(L, st, fn);
    if (!want_idx) return 1;
    int64_t isz[4];
    isz[0] = x->ndim;
    for (int j = 0; j < x->ndim; j++) isz[j + 1] = x->size[j];
    lt_tensor *it = lt_lua_newtensor_uninit(L, LT_INT32, x->ndim + 1, isz, fn);
    int32_t *o = lt_i32(it);
    const int64_t H = dims[1], W = dims[2];
    for (int64_t i = 0; i < n; i++) {
        int64_t j = idx[i];
        int64_t c[3] = {j < 0 ? -1 : j / (H * W), j < 0 ? -1 : (j / W) % H, j < 0 ? -1 : j % W};
        for (int d = 0; d < x->ndim; d++) o[(int64_t)d * n + i] = (int32_t)(c[3 - x->ndim + d] + 1);
    }
    lua_pushvalue(L, base + 1);
    lua_pushvalue(L, -2);
    return 2;
}

/* watershed(elevation, markers, mask|nil, connectivity|nil, compactness, path, fn) -> int32;
 * path: false/nil the fast path, true the linear-scan reference, "general" the general heap */
static int l_watershed(lua_State *L) {
    lua_settop(L, 7);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 7, "watershed");
    lt_tensor *e = lt_lua_checktensor(L, 1, fn, "elevation");
    lt_tensor *mk = lt_lua_checktensor(L, 2, fn, "markers");
    int64_t dims[3];
    image_dims(L, e, fn, "elevation", dims, 1);
    same_shape(L, e, mk, fn, "elevation", "markers");
    if (mk->dtype == LT_FLOAT32)
        lt_lua_error(L, "%s: markers must be an int32 or uint8 label tensor, got float32", fn);
    if (!lua_isnoneornil(L, 3)) same_shape(L, e, lt_lua_checktensor(L, 3, fn, "mask"), fn, "elevation", "mask");
    int conn = check_connectivity(L, 4, e->ndim, fn);
    double compactness = luaL_checknumber(L, 5);
    int naive = lua_type(L, 6) == LUA_TSTRING ? 2 : lua_toboolean(L, 6);
    lt_tensor *ef = as_dtype(L, 1, LT_FLOAT32, fn, "elevation");
    lt_tensor *mi = as_dtype(L, 2, LT_INT32, fn, "markers");
    const uint8_t *mask = lua_isnoneornil(L, 3) ? NULL : as_mask(L, 3, fn, "mask");
    lt_tensor *out = lt_lua_newtensor_uninit(L, LT_INT32, e->ndim, e->size, fn);
    lt_status st = (naive == 2 ? lt_classic_watershed_general : naive ? lt_classic_watershed_naive
                                                                      : lt_classic_watershed)(
        lt_i32(out), lt_f32(ef), lt_i32(mi), mask, dims, conn, compactness);
    lt_lua_check(L, st, fn);
    return 1;
}

/* A gray image: H x W, uint8 or float32, nonempty, contiguous (pushed copy if needed). */
static lt_tensor *gray_image(lua_State *L, int idx, const char *fn, const char *arg) {
    lt_tensor *t = lt_lua_checktensor(L, idx, fn, arg);
    int64_t dims[3];
    image_dims(L, t, fn, arg, dims, 0);
    if (t->dtype != LT_UINT8 && t->dtype != LT_FLOAT32)
        lt_lua_error(L, "%s: %s must be a uint8 or float32 gray image, got %s", fn, arg, lt_dtype_name(t->dtype));
    int pushed;
    return lt_lua_contiguous(L, idx, fn, arg, &pushed);
}

static void check_finite_image(lua_State *L, const lt_tensor *t, const char *fn, const char *arg) {
    if (t->dtype != LT_FLOAT32) return;
    const float *p = lt_f32(t);
    int64_t n = lt_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(p[i])) {
            char b[64];
            lt_lua_error(L, "%s: %s holds a non-finite value (%s at flat index %I)", fn, arg,
                         lt_numstr(b, sizeof b, p[i]), (lua_Integer)(i + 1));
        }
}

/* otsu(img, nbins, fn) -> number */
static int l_otsu(lua_State *L) {
    lua_settop(L, 3);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 3, "threshold_otsu");
    lt_tensor *x = gray_image(L, 1, fn, "image");
    check_finite_image(L, x, fn, "image");
    double t;
    lt_lua_check(L, lt_classic_otsu(&t, x, luaL_optinteger(L, 2, 256)), fn);
    lua_pushnumber(L, t);
    return 1;
}

/* multiotsu(img, classes, nbins, fn) -> list */
static int l_multiotsu(lua_State *L) {
    lua_settop(L, 4);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 4, "threshold_multiotsu");
    lt_tensor *x = gray_image(L, 1, fn, "image");
    check_finite_image(L, x, fn, "image");
    lua_Integer classes = luaL_checkinteger(L, 2);
    lua_Integer nbins = luaL_optinteger(L, 3, 256);
    double th[64];
    if (classes < 2 || classes > 64) lt_lua_error(L, "%s: classes must be in 2..64, got %I", fn, classes);
    lt_status st = lt_classic_multiotsu(th, x, (int)classes, nbins);
    if (st == LT_EARG)
        lt_lua_error(L, "%s: the image has fewer than %I distinct values: it cannot be thresholded "
                     "into %I classes", fn, classes, classes);
    if (st == LT_ERANGE) {
        int64_t nb = nbins;
        lt_classic_histogram(NULL, NULL, &nb, x);   /* uint8: the image's integer levels */
        lt_lua_error(L, "%s: %I classes over %I histogram bins is a search of more than 2^31 "
                     "threshold combinations: use fewer classes or nbins", fn, classes, (lua_Integer)nb);
    }
    lt_lua_check(L, st, fn);
    lua_createtable(L, (int)classes - 1, 0);
    for (lua_Integer i = 0; i < classes - 1; i++) {
        lua_pushnumber(L, th[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* local_threshold(img, wy, wx, k, r, sauvola, fn, naive) -> float32 image */
static int l_local_threshold(lua_State *L) {
    lua_settop(L, 8);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 7, "threshold_sauvola");
    int naive = lua_toboolean(L, 8);
    lt_tensor *x = gray_image(L, 1, fn, "image");
    lua_Integer wy = luaL_checkinteger(L, 2), wx = luaL_checkinteger(L, 3);
    double k = luaL_checknumber(L, 4), r = luaL_checknumber(L, 5);
    int sauvola = lua_toboolean(L, 6);
    lt_tensor *out = lt_lua_newtensor_uninit(L, LT_FLOAT32, 2, x->size, fn);
    lt_lua_check(L, (naive ? lt_classic_local_threshold_naive : lt_classic_local_threshold)(
                        lt_f32(out), x, wy, wx, k, r, sauvola), fn);
    return 1;
}

/* edges(img, kind 0..3 (3 = laplace), axis (-1, 0, 1), mask|nil, fn) -> float32 image */
static int l_edges(lua_State *L) {
    lua_settop(L, 5);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 5, "sobel");
    lt_tensor *x = gray_image(L, 1, fn, "image");
    int kind = (int)luaL_checkinteger(L, 2), axis = (int)luaL_optinteger(L, 3, -1);
    const uint8_t *mask = NULL;
    if (!lua_isnoneornil(L, 4)) {
        same_shape(L, x, lt_lua_checktensor(L, 4, fn, "mask"), fn, "image", "mask");
        mask = as_mask(L, 4, fn, "mask");
    }
    lt_tensor *out = lt_lua_newtensor_uninit(L, LT_FLOAT32, 2, x->size, fn);
    lt_status st = kind == 3 ? lt_classic_laplace(lt_lua_ctx(L), lt_f32(out), x, mask)
                             : lt_classic_edges(lt_lua_ctx(L), lt_f32(out), x, mask, (lt_edge_kind)kind, axis);
    lt_lua_check(L, st, fn);
    return 1;
}

/* canny(img, sigma, low, high, use_quantiles, mask|nil, fn) -> uint8 0/1 image */
static int l_canny(lua_State *L) {
    lua_settop(L, 7);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 7, "canny");
    lt_tensor *x = gray_image(L, 1, fn, "image");
    check_finite_image(L, x, fn, "image");
    double sigma = luaL_checknumber(L, 2), lo = luaL_checknumber(L, 3), hi = luaL_checknumber(L, 4);
    int q = lua_toboolean(L, 5);
    const uint8_t *mask = NULL;
    if (!lua_isnoneornil(L, 6)) {
        same_shape(L, x, lt_lua_checktensor(L, 6, fn, "mask"), fn, "image", "mask");
        mask = as_mask(L, 6, fn, "mask");
    }
    lt_tensor *out = lt_lua_newtensor_uninit(L, LT_UINT8, 2, x->size, fn);
    lt_lua_check(L, lt_classic_canny(lt_lua_ctx(L), lt_u8(out), x, mask, sigma, lo, hi, q), fn);
    return 1;
}

/* morph(img, footprint, op ("erode"|"dilate"|"open"|"close"), binary, naive, fn) -> image:
 * binary: uint8 0/1; gray: float32 */
static int l_morph(lua_State *L) {
    lua_settop(L, 6);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 6, "erode");
    lt_tensor *x = lt_lua_checktensor(L, 1, fn, "image");
    int64_t dims[3], fdims[3];
    image_dims(L, x, fn, "image", dims, 1);
    lt_tensor *f = lt_lua_checktensor(L, 2, fn, "footprint");
    char s1[128], s2[128];
    if (f->ndim != x->ndim)
        lt_lua_error(L, "%s: footprint %s must have as many dimensions as the image %s", fn,
                     lt_shape_str(f, s1, sizeof s1), lt_shape_str(x, s2, sizeof s2));
    for (int d = 0; d < f->ndim; d++)
        if (f->size[d] % 2 == 0)
            lt_lua_error(L, "%s: footprint sizes must be odd (a centred footprint), got %s", fn,
                         lt_shape_str(f, s1, sizeof s1));
    fdims[0] = f->ndim == 3 ? f->size[0] : 1;
    fdims[1] = f->size[f->ndim - 2];
    fdims[2] = f->size[f->ndim - 1];
    const char *op = luaL_checkstring(L, 3);
    int binary = lua_toboolean(L, 4), naive = lua_toboolean(L, 5);
    if (!binary && x->dtype == LT_UINT8)
        lt_lua_error(L, "%s: internal: gray morphology of a uint8 image", fn);
    const uint8_t *fp = as_mask(L, 2, fn, "footprint");
    int first_dilate, second = 1;
    if (strcmp(op, "erode") == 0) { first_dilate = 0; second = 0; }
    else if (strcmp(op, "dilate") == 0) { first_dilate = 1; second = 0; }
    else if (strcmp(op, "open") == 0) first_dilate = 0;
    else if (strcmp(op, "close") == 0) first_dilate = 1;
    else return lt_lua_error(L, "%s: internal: unknown operation %s", fn, op);
    if (binary && !naive) {
        /* masks stay uint8 0/1 end to end */
        const uint8_t *m = as_mask(L, 1, fn, "image");
        lt_tensor *a = lt_lua_newtensor_uninit(L, LT_UINT8, x->ndim, x->size, fn);
        lt_lua_check(L, lt_classic_morph_u8(lt_u8(a), m, dims, fp, fdims, first_dilate, 1), fn);
        if (second) {
            lt_tensor *b = lt_lua_newtensor_uninit(L, LT_UINT8, x->ndim, x->size, fn);
            lt_lua_check(L, lt_classic_morph_u8(lt_u8(b), lt_u8(a), dims, fp, fdims, !first_dilate, 1), fn);
        }
        return 1;
    }
    lt_tensor *xf;
    if (binary) {
        const uint8_t *m = as_mask(L, 1, fn, "image");
        xf = lt_lua_newtensor_uninit(L, LT_FLOAT32, x->ndim, x->size, fn);
        float *p = lt_f32(xf);
        int64_t n = lt_numel(xf);
        for (int64_t i = 0; i < n; i++) p[i] = m[i];
    } else {
        xf = as_dtype(L, 1, LT_FLOAT32, fn, "image");
    }
    lt_tensor *a = lt_lua_newtensor_uninit(L, LT_FLOAT32, x->ndim, x->size, fn);
    lt_tensor *b = NULL;
    lt_status (*k)(float *, const float *, const int64_t *, const uint8_t *, const int64_t *, int, int) =
        naive ? lt_classic_morph_naive : lt_classic_morph;
    lt_lua_check(L, k(lt_f32(a), lt_f32(xf), dims, fp, fdims, first_dilate, binary), fn);
    lt_tensor *res = a;
    if (second) {
        b = lt_lua_newtensor_uninit(L, LT_FLOAT32, x->ndim, x->size, fn);
        lt_lua_check(L, k(lt_f32(b), lt_f32(a), dims, fp, fdims, !first_dilate, binary), fn);
        res = b;
    }
    if (binary) {
        lt_tensor *o = lt_lua_newtensor_uninit(L, LT_UINT8, x->ndim, x->size, fn);
        uint8_t *op8 = lt_u8(o);
        const float *p = lt_f32(res);
        int64_t n = lt_numel(o);
        for (int64_t i = 0; i < n; i++) op8[i] = p[i] != 0.0f;
    } else if (x->dtype == LT_INT32) {
        lt_tensor *o = lt_lua_newtensor_uninit(L, LT_INT32, x->ndim, x->size, fn);
        lt_lua_check(L, lt_copy(lt_lua_ctx(L), o, res), fn);
    }
    return 1;   /* the top: the converted output, or the float32 result itself */
}

/* kmeans(x (n x f float32), k, seed, iters, tol, n_init, fn) -> int32 labels, float32 centers,
 * inertia, n_iter */
static int l_kmeans(lua_State *L) {
    lua_settop(L, 7);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 7, "kmeans");
    lt_tensor *x = lt_lua_checktensor(L, 1, fn, "x");
    char s[128];
    if (x->ndim != 2)
        lt_lua_error(L, "%s: x must be N x F (points x features), got a tensor of shape %s", fn,
                     lt_shape_str(x, s, sizeof s));
    if (x->size[0] == 0 || x->size[1] == 0)
        lt_lua_error(L, "%s: x is empty (shape %s)", fn, lt_shape_str(x, s, sizeof s));
    lua_Integer k = luaL_checkinteger(L, 2);
    if (k < 1 || k > x->size[0])
        lt_lua_error(L, "%s: k must be in 1..%I (the number of points), got %I", fn,
                     (lua_Integer)x->size[0], k);
    lua_Integer seed = luaL_checkinteger(L, 3), iters = luaL_checkinteger(L, 4);
    double tol = luaL_checknumber(L, 5);
    lua_Integer n_init = luaL_checkinteger(L, 6);
    lt_tensor *xf = as_dtype(L, 1, LT_FLOAT32, fn, "x");
    check_finite_image(L, xf, fn, "x");
    int64_t n = xf->size[0], f = xf->size[1];
    lt_tensor *lab = lt_lua_newtensor_uninit(L, LT_INT32, 1, &n, fn);
    int64_t cs[2] = {k, f};
    lt_tensor *cen = lt_lua_newtensor_uninit(L, LT_FLOAT32, 2, cs, fn);
    double inertia = 0;
    int64_t nit = 0;
    lt_lua_check(L, lt_classic_kmeans(lt_lua_ctx(L), lt_i32(lab), lt_f32(cen), &inertia, &nit, lt_f32(xf), n, f,
                                      k, (uint64_t)seed, iters, tol, n_init), fn);
    lua_pushnumber(L, inertia);
    lua_pushinteger(L, (lua_Integer)nit);
    return 4;
}

/* pixel_features(img (C x H x W or H x W), xy_weight, fn) -> float32 (H*W) x (C [+ 2]):
 * the channel values (uint8 scaled to [0, 1]) and, when xy_weight > 0, row / (H - 1) and
 * col / (W - 1) times xy_weight (0 for a size-1 axis). */
static int l_pixel_features(lua_State *L) {
    lua_settop(L, 3);   /* absent arguments are nil: pushes land above them */
    const char *fn = luaL_optstring(L, 3, "pixel_features");
    lt_tensor *x = lt_lua_checktensor(L, 1, fn, "image");
    char s[128];
    if (x->ndim != 2 && x->ndim != 3)
        lt_lua_error(L, "%s: image must be C x H x W or H x W, got a tensor of shape %s", fn,
                     lt_shape_str(x, s, sizeof s));
    for (int d = 0; d < x->ndim; d++)
        if (x->size[d] == 0) lt_lua_error(L, "%s: image is empty (shape %s)", fn, lt_shape_str(x, s, sizeof s));
    double xy = luaL_checknumber(L, 2);
    int64_t C = x->ndim == 3 ? x->size[0] : 1, H = x->size[x->ndim - 2], W = x->size[x->ndim - 1];
    lt_tensor *xf = as_dtype(L, 1, LT_FLOAT32, fn, "image");
    int64_t F = C + (xy > 0 ? 2 : 0), N;
    if (lt_mul_ovf(H, W, &N)) lt_overflow_error(L, fn, "pixel count", "H * W");
    int64_t os[2] = {N, F};
    lt_tensor *out = lt_lua_newtensor_uninit(L, LT_FLOAT32, 2, os, fn);
    float *o = lt_f32(out);
    const float *p = lt_f32(xf);
    float scale = x->dtype == LT_UINT8 ? 1.0f / 255.0f : 1.0f;
    for (int64_t i = 0; i < N; i++) {
        for (int64_t c = 0; c < C; c++) o[i * F + c] = p[c * N + i] * scale;
        if (xy > 0) {
            int64_t y = i / W, xx = i % W;
            o[i * F + C] = H > 1 ? (float)(xy * (double)y / (double)(H - 1)) : 0.0f;
            o[i * F + C + 1] = W > 1 ? (float)(xy * (double)xx / (double)(W - 1)) : 0.0f;
        }
    }
    return 1;
}

void lt_open_classic(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"label", l_label},
        {"regionprops", l_regionprops},
        {"edt", l_edt},
        {"watershed", l_watershed},
        {"otsu", l_otsu},
        {"multiotsu", l_multiotsu},
        {"local_threshold", l_local_threshold},
        {"edges", l_edges},
        {"canny", l_canny},
        {"morph", l_morph},
        {"kmeans", l_kmeans},
        {"pixel_features", l_pixel_features},
        {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
