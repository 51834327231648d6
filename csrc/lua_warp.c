/* lua_warp.c: Lua binding of the lt_warp kernels as core.warp.* (raw, no autograd), used by
 * lunet.transforms. Geometry arguments here are 0-based pixel offsets; sizes are counts. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "lt_lua.h"
#include "lt_lua.h"
#include "lt_warp.h"

/* ---- argument helpers (all checks happen before anything is allocated) ---- */

/* The option keys of each function (lt_opt_check raises on any other). */
static const char *const affine_keys[] = {"interpolation", "border", "fill", "height", "width",
                                          "naive", NULL};
static const char *const remap_keys[] = {"interpolation", "border", "fill", NULL};
static const char *const resize_keys[] = {"interpolation", "naive", NULL};
static const char *const crop_pad_keys[] = {"border", "fill", NULL};
static const char *const naive_keys[] = {"naive", NULL};
static const char *const rng_keys[] = {"generator", NULL};

/* A number argument that must be finite (NaN and infinities make the kernels' integer
 * conversions undefined). */
static double check_finite(lua_State *L, int idx, const char *fn, const char *what) {
    double v = (double)luaL_checknumber(L, idx);
    lt_check_real(L, v, LT_REAL_FINITE, fn, what);
    return v;
}

/* An image (C, H, W) or mask (H, W) of an allowed dtype; returns it contiguous (a copy is
 * pushed when needed, which the caller must account for on the stack). */
static lt_tensor *check_image(lua_State *L, int idx, const char *fn, const char *arg,
                              int allow_int32) {
    char buf[96];
    lt_tensor *t = lt_lua_checktensor(L, idx, fn, arg);
    if (t->ndim != 2 && t->ndim != 3)
        lt_lua_error(L, "%s: %s must be 2-D (H, W) or 3-D (C, H, W), got %s", fn, arg,
                   lt_shape_str(t, buf, sizeof buf));
    if (t->dtype == LT_INT32 && !allow_int32)
        lt_lua_error(L, "%s: %s must be uint8 or float32, got int32", fn, arg);
    int pushed;
    return lt_lua_contiguous(L, idx, fn, arg, &pushed);
}

static lt_interp opt_interp(lua_State *L, int opt, const char *fn, lt_interp def) {
    if (!lt_opt_get(L, opt, "interpolation", fn)) return def;
    lt_interp r = def;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (s && strcmp(s, "nearest") == 0) r = LT_INTERP_NEAREST;
    else if (s && (strcmp(s, "linear") == 0 || strcmp(s, "bilinear") == 0)) r = LT_INTERP_LINEAR;
    else if (s && strcmp(s, "area") == 0) r = LT_INTERP_AREA;
    else lt_lua_error(L, "%s: interpolation must be \"nearest\", \"bilinear\" or \"area\", got %s",
                      fn, luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
    return r;
}

static lt_border opt_border(lua_State *L, int opt, const char *fn) {
    if (!lt_opt_get(L, opt, "border", fn)) return LT_BORDER_CONSTANT;
    lt_border r = LT_BORDER_CONSTANT;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (s && strcmp(s, "constant") == 0) r = LT_BORDER_CONSTANT;
    else if (s && strcmp(s, "reflect") == 0) r = LT_BORDER_REFLECT;
    else if (s && strcmp(s, "replicate") == 0) r = LT_BORDER_REPLICATE;
    else lt_lua_error(L, "%s: border must be \"constant\", \"reflect\" or \"replicate\", got %s",
                      fn, luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
    return r;
}

/* opts.fill: a finite number (saturated to the image's dtype by the kernels). */
static double opt_fill(lua_State *L, int opt, const char *fn) {
    return lt_opt_real(L, opt, "fill", 0.0, LT_REAL_FINITE, fn);
}

static int64_t check_size(lua_State *L, int idx, const char *fn, const char *arg) {
    lua_Integer v = luaL_checkinteger(L, idx);
    if (v < 1 || v > (lua_Integer)1 << 30)
        lt_lua_error(L, "%s: %s must be a positive size, got %I", fn, arg, v);
    return (int64_t)v;
}

/* Pushes a new tensor with `like`'s planes (2-D stays 2-D) and an h x w plane size. */
static lt_tensor *new_planes(lua_State *L, const lt_tensor *like, int64_t h, int64_t w,
                             lt_dtype dt, const char *fn) {
    int64_t sz[3];
    if (like->ndim == 2) { sz[0] = h; sz[1] = w; return lt_lua_newtensor(L, dt, 2, sz, fn); }
    sz[0] = like->size[0]; sz[1] = h; sz[2] = w;
    return lt_lua_newtensor(L, dt, 3, sz, fn);
}

static int64_t plane_h(const lt_tensor *t) { return t->size[t->ndim - 2]; }
static int64_t plane_w(const lt_tensor *t) { return t->size[t->ndim - 1]; }

/* ---- resampling ---- */

/* warp_affine(img, m, {height=, width=, interpolation=, border=, fill=, naive=}):
 * m = {a, b, c, d, e, f} is the forward matrix (src -> dst) as given to cv2.warpAffine. */
static int l_warp_affine(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "warp_affine";
    lt_opt_check(L, 3, fn, affine_keys);
    lt_tensor *in = check_image(L, 1, fn, "image", 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    double m[6], inv[6];
    if (lua_rawlen(L, 2) != 6) lt_lua_error(L, "%s: matrix must be a table of 6 numbers", fn);
    for (int i = 0; i < 6; i++) {
        lua_rawgeti(L, 2, i + 1);
        if (!lua_isnumber(L, -1)) lt_lua_error(L, "%s: matrix must be a table of 6 numbers", fn);
        m[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (!lt_in_range(m[i], LT_REAL_FINITE)) {
            char nb[64];
            lt_lua_error(L, "%s: matrix entry %d must be finite, got %s", fn, i + 1,
                         lt_numstr(nb, sizeof nb, m[i]));
        }
    }
    lt_interp ip = opt_interp(L, 3, fn, LT_INTERP_LINEAR);
    if (ip == LT_INTERP_AREA) lt_lua_error(L, "%s: interpolation \"area\" is only for resize", fn);
    if (ip == LT_INTERP_LINEAR && in->dtype == LT_INT32)
        lt_lua_error(L, "%s: bilinear interpolation needs a uint8 or float32 image, got int32", fn);
    lt_border bd = opt_border(L, 3, fn);
    double fill = opt_fill(L, 3, fn);
    int naive = lt_opt_bool(L, 3, "naive", 0, fn);
    int64_t h = lt_opt_int(L, 3, "height", plane_h(in), fn);
    int64_t w = lt_opt_int(L, 3, "width", plane_w(in), fn);
    if (h < 1 || w < 1 || h > (int64_t)1 << 30 || w > (int64_t)1 << 30)
        lt_lua_error(L, "%s: output size must be in 1..%I, got %Ix%I", fn, (lua_Integer)1 << 30,
                     (lua_Integer)h, (lua_Integer)w);
    lt_affine_invert(inv, m);
    lt_tensor *out = new_planes(L, in, h, w, in->dtype, fn);
    lt_lua_check(L, (naive ? lt_warp_affine_naive(out, in, inv, ip, bd, fill)
                           : lt_warp_affine(ctx, out, in, inv, ip, bd, fill)), fn);
    return 1;
}

/* remap(img, mapx, mapy, {interpolation=, border=, fill=}): maps float32 (Ho, Wo). */
static int l_remap(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "remap";
    char b1[96], b2[96];
    lt_opt_check(L, 4, fn, remap_keys);
    lt_tensor *in = check_image(L, 1, fn, "image", 1);
    lt_tensor *mx = lt_lua_checkdtype(L, 2, fn, "mapx", LT_FLOAT32);
    lt_tensor *my = lt_lua_checkdtype(L, 3, fn, "mapy", LT_FLOAT32);
    if (mx->ndim != 2 || my->ndim != 2 || mx->size[0] != my->size[0] || mx->size[1] != my->size[1])
        lt_lua_error(L, "%s: mapx and mapy must be 2-D of the same shape, got %s and %s", fn,
                   lt_shape_str(mx, b1, sizeof b1), lt_shape_str(my, b2, sizeof b2));
    lt_interp ip = opt_interp(L, 4, fn, LT_INTERP_LINEAR);
    if (ip == LT_INTERP_AREA) lt_lua_error(L, "%s: interpolation \"area\" is only for resize", fn);
    if (ip == LT_INTERP_LINEAR && in->dtype == LT_INT32)
        lt_lua_error(L, "%s: bilinear interpolation needs a uint8 or float32 image, got int32", fn);
    lt_border bd = opt_border(L, 4, fn);
    double fill = opt_fill(L, 4, fn);
    int p1, p2;
    mx = lt_lua_contiguous(L, 2, fn, "mapx", &p1);
    my = lt_lua_contiguous(L, 3, fn, "mapy", &p2);
    lt_tensor *out = new_planes(L, in, mx->size[0], mx->size[1], in->dtype, fn);
    lt_lua_check(L, lt_remap(ctx, out, in, mx, my, ip, bd, fill), fn);
    return 1;
}

/* resize(img, height, width, {interpolation="bilinear"|"area"|"nearest", naive=}) */
static int l_resize(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "resize";
    lt_opt_check(L, 4, fn, resize_keys);
    lt_tensor *in = check_image(L, 1, fn, "image", 1);
    int64_t h = check_size(L, 2, fn, "height"), w = check_size(L, 3, fn, "width");
    lt_interp ip = opt_interp(L, 4, fn, LT_INTERP_LINEAR);
    if (ip != LT_INTERP_NEAREST && in->dtype == LT_INT32)
        lt_lua_error(L, "%s: %s interpolation needs a uint8 or float32 image, got int32", fn,
                   ip == LT_INTERP_AREA ? "area" : "bilinear");
    if (plane_h(in) * plane_w(in) == 0) lt_lua_error(L, "%s: image is empty", fn);
    int naive = lt_opt_bool(L, 4, "naive", 0, fn);
    lt_tensor *out = new_planes(L, in, h, w, in->dtype, fn);
    lt_lua_check(L, (naive ? lt_resize_naive(out, in, ip)
                           : lt_resize(ctx, out, in, ip)), fn);
    return 1;
}

/* crop_pad(img, top, left, height, width, {border=, fill=}): out[y][x] = img[top+y][left+x]. */
static int l_crop_pad(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "crop_pad";
    lt_opt_check(L, 6, fn, crop_pad_keys);
    lt_tensor *in = check_image(L, 1, fn, "image", 1);
    lua_Integer top = luaL_checkinteger(L, 2), left = luaL_checkinteger(L, 3);
    int64_t h = check_size(L, 4, fn, "height"), w = check_size(L, 5, fn, "width");
    /* the kernel reads rows top .. top + h - 1 (and W - left): keep every offset far from
     * int64's ends (sizes are at most 2^30) */
    const lua_Integer lim = (lua_Integer)1 << 40;
    if (top < -lim || top > lim || left < -lim || left > lim)
        lt_lua_error(L, "%s: offsets must be in -%I..%I, got top %I, left %I", fn, lim, lim, top, left);
    lt_border bd = opt_border(L, 6, fn);
    double fill = opt_fill(L, 6, fn);
    lt_tensor *out = new_planes(L, in, h, w, in->dtype, fn);
    lt_lua_check(L, lt_crop_pad(ctx, out, in, (int64_t)top, (int64_t)left, bd, fill), fn);
    return 1;
}

/* flip(img, horizontal): horizontal = true flips columns, false flips rows. */
static int l_flip(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "flip";
    lt_tensor *in = check_image(L, 1, fn, "image", 1);
    int horizontal = lua_toboolean(L, 2);
    lt_tensor *out = new_planes(L, in, plane_h(in), plane_w(in), in->dtype, fn);
    lt_lua_check(L, lt_flip_hw(ctx, out, in, horizontal), fn);
    return 1;
}

/* rot90(img, k): k quarter turns counter-clockwise (numpy.rot90). */
static int l_rot90(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "rot90";
    lt_tensor *in = check_image(L, 1, fn, "image", 1);
    int k = (int)(((luaL_checkinteger(L, 2) % 4) + 4) % 4);
    int64_t h = plane_h(in), w = plane_w(in);
    lt_tensor *out = (k & 1) ? new_planes(L, in, w, h, in->dtype, fn) : new_planes(L, in, h, w, in->dtype, fn);
    lt_lua_check(L, lt_rot90(ctx, out, in, k), fn);
    return 1;
}

/* ---- filters and pixel ops ---- */

/* gaussian_blur(img, kx, ky, sigmax, sigmay, {naive=}) */
static int l_gaussian_blur(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "gaussian_blur";
    lt_opt_check(L, 6, fn, naive_keys);
    lt_tensor *in = check_image(L, 1, fn, "image", 0);
    lua_Integer kx = luaL_checkinteger(L, 2), ky = luaL_checkinteger(L, 3);
    double sx = lua_isnoneornil(L, 4) ? 0 : check_finite(L, 4, fn, "sigma_x");
    double sy = lua_isnoneornil(L, 5) ? 0 : check_finite(L, 5, fn, "sigma_y");
    if (kx < 1 || ky < 1 || kx % 2 == 0 || ky % 2 == 0)
        lt_lua_error(L, "%s: kernel size must be odd and positive, got %Ix%I", fn, kx, ky);
    if (kx > 4095 || ky > 4095)
        lt_lua_error(L, "%s: kernel size must be at most 4095, got %Ix%I", fn, kx, ky);
    int naive = lt_opt_bool(L, 6, "naive", 0, fn);
    lt_tensor *out = lt_lua_newlike(L, in, fn);
    lt_lua_check(L, (naive ? lt_gaussian_blur_naive(out, in, (int)kx, (int)ky, sx, sy)
                           : lt_gaussian_blur(ctx, out, in, (int)kx, (int)ky, sx, sy)), fn);
    return 1;
}

/* pixel_affine(img, alpha, beta): img * alpha + beta */
static int l_pixel_affine(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "pixel_affine";
    lt_tensor *in = check_image(L, 1, fn, "image", 0);
    double a = check_finite(L, 2, fn, "alpha"), b = check_finite(L, 3, fn, "beta");
    lt_tensor *out = lt_lua_newlike(L, in, fn);
    lt_lua_check(L, lt_pixel_affine(ctx, out, in, a, b), fn);
    return 1;
}

/* pixel_gamma(img, gamma, maxv) */
static int l_pixel_gamma(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "pixel_gamma";
    lt_tensor *in = check_image(L, 1, fn, "image", 0);
    double g = check_finite(L, 2, fn, "gamma"), mv = luaL_checknumber(L, 3);
    lt_check_real(L, mv, LT_REAL_POSITIVE, fn, "max value");
    lt_tensor *out = lt_lua_newlike(L, in, fn);
    lt_lua_check(L, lt_pixel_gamma(ctx, out, in, g, mv), fn);
    return 1;
}

/* hsv_shift(img, hue, sat, val): img (3, H, W) RGB */
static int l_hsv_shift(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "hsv_shift";
    char buf[96];
    lt_tensor *in = check_image(L, 1, fn, "image", 0);
    if (in->ndim != 3 || in->size[0] != 3)
        lt_lua_error(L, "%s: image must be RGB (3, H, W), got %s", fn, lt_shape_str(in, buf, sizeof buf));
    double h = check_finite(L, 2, fn, "hue"), s = check_finite(L, 3, fn, "saturation");
    double v = check_finite(L, 4, fn, "value");
    lt_tensor *out = lt_lua_newlike(L, in, fn);
    lt_lua_check(L, lt_hsv_shift(ctx, out, in, h, s, v), fn);
    return 1;
}

static void read_channel_values(lua_State *L, int idx, int64_t C, double *out, const char *fn,
                                const char *arg) {
    if (lua_isnumber(L, idx)) {
        for (int64_t c = 0; c < C; c++) out[c] = lua_tonumber(L, idx);
    } else {
        luaL_checktype(L, idx, LUA_TTABLE);
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        if (n != 1 && n != C)
            lt_lua_error(L, "%s: %s has %I values, image has %I channels", fn, arg, n, (lua_Integer)C);
        for (int64_t c = 0; c < C; c++) {
            lua_rawgeti(L, idx, n == 1 ? 1 : (lua_Integer)c + 1);
            if (!lua_isnumber(L, -1)) lt_lua_error(L, "%s: %s must hold numbers", fn, arg);
            out[c] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    }
    for (int64_t c = 0; c < C; c++)
        if (!lt_in_range(out[c], LT_REAL_FINITE)) {
            char nb[64];
            lt_lua_error(L, "%s: %s must hold finite numbers, got %s for channel %I", fn, arg,
                         lt_numstr(nb, sizeof nb, out[c]), (lua_Integer)c + 1);
        }
}

/* normalize(img, mean, std): float32 (img - mean[c]) / std[c]; mean, std numbers or tables. */
static int l_normalize(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "normalize";
    lt_tensor *in = check_image(L, 1, fn, "image", 0);
    int64_t C = in->ndim == 3 ? in->size[0] : 1;
    if (C > 64) lt_lua_error(L, "%s: at most 64 channels, got %I", fn, (lua_Integer)C);
    double mean[64], std[64];
    read_channel_values(L, 2, C, mean, fn, "mean");
    read_channel_values(L, 3, C, std, fn, "std");
    for (int64_t c = 0; c < C; c++)
        if (std[c] == 0) lt_lua_error(L, "%s: std of channel %I is 0", fn, (lua_Integer)c + 1);
    lt_tensor *out = new_planes(L, in, plane_h(in), plane_w(in), LT_FLOAT32, fn);
    lt_lua_check(L, lt_normalize(ctx, out, in, mean, std), fn);
    return 1;
}

/* gauss_noise(img, mean, std, per_channel, {generator=}): img + N(mean, std) */
static int l_gauss_noise(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "gauss_noise";
    lt_opt_check(L, 5, fn, rng_keys);
    lt_tensor *in = check_image(L, 1, fn, "image", 0);
    double mean = check_finite(L, 2, fn, "mean"), sd = luaL_checknumber(L, 3);
    int per_channel = lua_toboolean(L, 4);
    lt_check_real(L, sd, LT_REAL_NONNEG, fn, "std");
    lt_rng *g = lt_lua_optrng(L, 5, fn);
    int64_t C = in->ndim == 3 ? in->size[0] : 1;
    int64_t nsz[3] = {per_channel ? C : 1, plane_h(in), plane_w(in)};
    lt_tensor *noise = lt_lua_newtensor(L, LT_FLOAT32, 3, nsz, fn);
    lt_rng_fill_normal(g, lt_f32(noise), lt_numel(noise), (float)mean, (float)sd);
    lt_tensor *out = lt_lua_newlike(L, in, fn);
    lt_lua_check(L, lt_add_noise(ctx, out, in, noise), fn);
    return 1;
}

/* fill_rect(img, top, left, height, width, value): in place, clipped; returns img. */
static int l_fill_rect(lua_State *L) {
    const char *fn = "fill_rect";
    lt_tensor *t = lt_lua_checktensor(L, 1, fn, "image");
    if ((t->ndim != 2 && t->ndim != 3) || !lt_is_contiguous(t))
        lt_lua_error(L, "%s: image must be a contiguous 2-D or 3-D tensor", fn);
    lua_Integer y = luaL_checkinteger(L, 2), x = luaL_checkinteger(L, 3);
    lua_Integer h = luaL_checkinteger(L, 4), w = luaL_checkinteger(L, 5);
    double v = check_finite(L, 6, fn, "value");
    /* the kernel clips y .. y + h and x .. x + w to the image: the ends must be computable */
    int64_t y1, x1;
    if (lt_add_ovf(y, h, &y1) || lt_add_ovf(x, w, &x1))
        lt_lua_error(L, "%s: rectangle top %I + height %I or left %I + width %I overflows int64", fn,
                     y, h, x, w);
    lt_lua_check(L, lt_fill_rect(t, (int64_t)y, (int64_t)x, (int64_t)h, (int64_t)w, v), fn);
    lua_settop(L, 1);
    return 1;
}

/* ---- random numbers and displacement maps for the Lua side ---- */

/* uniform({generator=}) -> number in [0, 1) */
static int l_uniform(lua_State *L) {
    lt_opt_check(L, 1, "uniform", rng_keys);
    lt_rng *g = lt_lua_optrng(L, 1, "uniform");
    lua_pushnumber(L, lt_rng_uniform(g));
    return 1;
}

/* randint(lo, hi, {generator=}) -> integer in [lo, hi] */
static int l_randint(lua_State *L) {
    lt_opt_check(L, 3, "randint", rng_keys);
    lua_Integer lo = luaL_checkinteger(L, 1), hi = luaL_checkinteger(L, 2);
    if (hi < lo) lt_lua_error(L, "randint: empty range [%I, %I]", lo, hi);
    int64_t span;
    if (lt_sub_ovf(hi, lo, &span) || span == INT64_MAX)
        lt_lua_error(L, "randint: range [%I, %I] has more values than int64 can count", lo, hi);
    lt_rng *g = lt_lua_optrng(L, 3, "randint");
    lua_pushinteger(L, lo + (lua_Integer)lt_rng_below(g, span + 1));
    return 1;
}

/* elastic_maps(h, w, alpha, sigma, ksize, {generator=}) -> mapx, mapy (float32 h x w):
 * map = identity + alpha * gaussian_blur(uniform(-1, 1) field). dx is drawn before dy. */
static int l_elastic_maps(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "elastic_maps";
    lt_opt_check(L, 6, fn, rng_keys);
    int64_t h = check_size(L, 1, fn, "height"), w = check_size(L, 2, fn, "width");
    double alpha = check_finite(L, 3, fn, "alpha"), sigma = luaL_checknumber(L, 4);
    lua_Integer k = luaL_checkinteger(L, 5);
    if (k < 1 || k % 2 == 0 || k > 4095)
        lt_lua_error(L, "%s: kernel size must be odd, in 1..4095, got %I", fn, k);
    lt_check_real(L, sigma, LT_REAL_POSITIVE, fn, "sigma");
    lt_rng *g = lt_lua_optrng(L, 6, fn);
    int64_t sz[2] = {h, w};
    lt_tensor *f = lt_lua_newtensor(L, LT_FLOAT32, 2, sz, fn);       /* 7: field */
    lt_tensor *maps[2];
    maps[0] = lt_lua_newtensor(L, LT_FLOAT32, 2, sz, fn);            /* 8: mapx */
    maps[1] = lt_lua_newtensor(L, LT_FLOAT32, 2, sz, fn);            /* 9: mapy */
    for (int d = 0; d < 2; d++) {
        lt_rng_fill_uniform(g, lt_f32(f), h * w, -1.f, 1.f);
        lt_lua_check(L, lt_gaussian_blur(ctx, maps[d], f, (int)k, (int)k, sigma, sigma), fn);
        float *m = lt_f32(maps[d]);
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                m[y * w + x] = (float)(d == 0 ? x : y) + (float)alpha * m[y * w + x];
    }
    return 2;
}

/* grid_maps(xs, ys) -> mapx, mapy: mapx[y][x] = xs[x], mapy[y][x] = ys[y] (Lua tables). */
static int l_grid_maps(lua_State *L) {
    const char *fn = "grid_maps";
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    int64_t w = (int64_t)lua_rawlen(L, 1), h = (int64_t)lua_rawlen(L, 2);
    if (w < 1 || h < 1) lt_lua_error(L, "%s: xs and ys must be non-empty", fn);
    int64_t sz[2] = {h, w};
    lt_tensor *mx = lt_lua_newtensor(L, LT_FLOAT32, 2, sz, fn);
    lt_tensor *my = lt_lua_newtensor(L, LT_FLOAT32, 2, sz, fn);
    float *px = lt_f32(mx), *py = lt_f32(my);
    for (int64_t x = 0; x < w; x++) {
        lua_rawgeti(L, 1, (lua_Integer)x + 1);
        px[x] = (float)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    for (int64_t y = 1; y < h; y++) memcpy(px + y * w, px, (size_t)w * sizeof *px);
    for (int64_t y = 0; y < h; y++) {
        lua_rawgeti(L, 2, (lua_Integer)y + 1);
        float v = (float)lua_tonumber(L, -1);
        lua_pop(L, 1);
        for (int64_t x = 0; x < w; x++) py[y * w + x] = v;
    }
    return 2;
}

/* now() -> seconds of a monotonic wall clock (for bench/augment.lua; os.clock is CPU time). */
static int l_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

void lt_open_warp(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"warp_affine", l_warp_affine},
        {"remap", l_remap},
        {"resize", l_resize},
        {"crop_pad", l_crop_pad},
        {"flip", l_flip},
        {"rot90", l_rot90},
        {"gaussian_blur", l_gaussian_blur},
        {"pixel_affine", l_pixel_affine},
        {"pixel_gamma", l_pixel_gamma},
        {"hsv_shift", l_hsv_shift},
        {"normalize", l_normalize},
        {"gauss_noise", l_gauss_noise},
        {"fill_rect", l_fill_rect},
        {"uniform", l_uniform},
        {"randint", l_randint},
        {"elastic_maps", l_elastic_maps},
        {"grid_maps", l_grid_maps},
        {"now", l_now},
        {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
