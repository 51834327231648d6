/* lua_classic_seg.c: Lua binding of SLIC (lt_slic.c), Felzenszwalb's segmentation
 * (lt_felzenszwalb.c) and the dense CRF (lt_crf.c) as core.classic_seg.*; the public API is
 * lua/lunet/classic/superpixels.lua and crf.lua. Each function checks every argument and
 * option here, so the raw functions are as safe as the public ones. */
#include <math.h>
#include <string.h>

#include "lt_crf.h"
#include "lt_felzenszwalb.h"
#include "lt_lua.h"
#include "lt_slic.h"

/* An image argument: uint8 or float32 (finite), (C, H, W) or (H, W) with H, W >= 1 and
 * H * W < 2^31 (labels are int32). Returns a contiguous tensor (a copy may be pushed). */
static lt_tensor *check_image(lua_State *L, int idx, const char *fn, const char *arg,
                              int want_rgb) {
    char s[96];
    lt_tensor *t = lt_lua_checktensor(L, idx, fn, arg);
    if (t->dtype != LT_UINT8 && t->dtype != LT_FLOAT32)
        lt_lua_error(L, "%s: %s must be uint8 or float32, got %s", fn, arg, lt_dtype_name(t->dtype));
    if (want_rgb ? (t->ndim != 3 || t->size[0] != 3) : (t->ndim != 2 && t->ndim != 3))
        lt_lua_error(L, want_rgb ? "%s: %s must be 3 x H x W (RGB), got %s"
                                 : "%s: %s must be H x W or C x H x W, got %s",
                     fn, arg, lt_shape_str(t, s, sizeof s));
    int64_t h = t->size[t->ndim - 2], w = t->size[t->ndim - 1];
    if (h < 1 || w < 1 || (t->ndim == 3 && t->size[0] < 1))
        lt_lua_error(L, "%s: %s is empty (%s)", fn, arg, lt_shape_str(t, s, sizeof s));
    if (h * w > INT32_MAX)
        lt_lua_error(L, "%s: %s has %I pixels, at most %I are supported (%s)", fn, arg,
                     (lua_Integer)(h * w), (lua_Integer)INT32_MAX, lt_shape_str(t, s, sizeof s));
    int pushed;
    t = lt_lua_contiguous(L, idx, fn, arg, &pushed);
    if (t->dtype == LT_FLOAT32) {
        const float *p = lt_f32(t);
        int64_t n = lt_numel(t);
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(p[i])) {
                char b[32];
                lt_lua_error(L, "%s: %s holds a non-finite value (%s at flat index %I)", fn, arg,
                             lt_numstr(b, sizeof b, (double)p[i]), (lua_Integer)i + 1);
            }
    }
    return t;
}

static void check_status(lua_State *L, lt_status st, const char *fn) {
    if (st == LT_ENOMEM) lt_lua_error(L, "%s: out of memory", fn);
    lt_lua_check(L, st, fn);
}

/* slic(img, opts) -> labels (H, W) int32 */
static int slic_impl(lua_State *L, int naive) {
    const char *fn = naive ? "slic_naive" : "slic";
    static const char *const known[] = {"n_segments", "compactness", "max_num_iter", "sigma",
                                        "start_label", "enforce_connectivity", "convert2lab",
                                        "min_size_factor", "max_size_factor", NULL};
    lt_opt_check(L, 2, fn, known);
    lt_slic_opts o = lt_slic_defaults();
    o.n_segments = lt_opt_int_range(L, 2, "n_segments", o.n_segments, 1, INT32_MAX, fn);
    o.compactness = lt_opt_real(L, 2, "compactness", o.compactness, LT_REAL_POSITIVE, fn);
    o.max_num_iter = lt_opt_int_range(L, 2, "max_num_iter", o.max_num_iter, 0, 1000000, fn);
    o.sigma = lt_opt_real(L, 2, "sigma", o.sigma, LT_REAL_NONNEG, fn);
    o.start_label = (int)lt_opt_int_range(L, 2, "start_label", o.start_label, 0, 1, fn);
    o.enforce_connectivity = lt_opt_bool(L, 2, "enforce_connectivity", 1, fn);
    o.min_size_factor = lt_opt_real(L, 2, "min_size_factor", o.min_size_factor, LT_REAL_NONNEG, fn);
    o.max_size_factor = lt_opt_real(L, 2, "max_size_factor", o.max_size_factor, LT_REAL_POSITIVE, fn);
    if (o.sigma > 1e6) {
        char b[32];
        lt_lua_error(L, "%s: option sigma must be <= 1e6, got %s", fn, lt_numstr(b, sizeof b, o.sigma));
    }
    lt_tensor *img = check_image(L, 1, fn, "image", 0);
    int top = lua_gettop(L);
    if (!lua_isnoneornil(L, 2) && lt_opt_get(L, 2, "convert2lab", fn)) {
        if (!lua_isboolean(L, -1))
            lt_lua_error(L, "%s: option convert2lab must be a boolean, got %s", fn, luaL_typename(L, -1));
        o.convert2lab = lua_toboolean(L, -1);
    }
    lua_settop(L, top);
    int64_t c = img->ndim == 3 ? img->size[0] : 1;
    if (o.convert2lab == 1 && c != 3)
        lt_lua_error(L, "%s: convert2lab needs an RGB image (3 x H x W), got %I channels", fn,
                     (lua_Integer)c);
    int64_t sz[2] = {img->size[img->ndim - 2], img->size[img->ndim - 1]};
    lt_tensor *out = lt_lua_newtensor(L, LT_INT32, 2, sz, fn);
    check_status(L, (naive ? lt_slic_naive : lt_slic)(lt_lua_ctx(L), out, img, &o), fn);
    return 1;
}
static int l_slic(lua_State *L) { return slic_impl(L, 0); }
static int l_slic_naive(lua_State *L) { return slic_impl(L, 1); }

/* felzenszwalb(img, opts) -> labels (H, W) int32 (0..count-1), count */
static int fz_impl(lua_State *L, int naive) {
    const char *fn = naive ? "felzenszwalb_naive" : "felzenszwalb";
    static const char *const known[] = {"scale", "sigma", "min_size", NULL};
    lt_opt_check(L, 2, fn, known);
    lt_felzenszwalb_opts o;
    o.scale = lt_opt_real(L, 2, "scale", 1.0, LT_REAL_POSITIVE, fn);
    o.sigma = lt_opt_real(L, 2, "sigma", 0.8, LT_REAL_NONNEG, fn);
    o.min_size = lt_opt_int_range(L, 2, "min_size", 20, 0, LUA_MAXINTEGER, fn);
    if (o.sigma > 1e6) {
        char b[32];
        lt_lua_error(L, "%s: option sigma must be <= 1e6, got %s", fn, lt_numstr(b, sizeof b, o.sigma));
    }
    lt_tensor *img = check_image(L, 1, fn, "image", 0);
    int64_t sz[2] = {img->size[img->ndim - 2], img->size[img->ndim - 1]}, count = 0;
    lt_tensor *out = lt_lua_newtensor(L, LT_INT32, 2, sz, fn);
    check_status(L, (naive ? lt_felzenszwalb_naive : lt_felzenszwalb)(lt_lua_ctx(L), out, img, &o, &count), fn);
    lua_pushinteger(L, (lua_Integer)count);
    return 2;
}
static int l_felzenszwalb(lua_State *L) { return fz_impl(L, 0); }
static int l_felzenszwalb_naive(lua_State *L) { return fz_impl(L, 1); }

/* dense_crf(probs, rgb, opts) -> q (K, H, W) float32, labels (H, W) int32 */
static int crf_impl(lua_State *L, int naive) {
    const char *fn = naive ? "dense_crf_naive" : "dense_crf";
    static const char *const known[] = {"iterations", "pos_w", "pos_xy_std", "bi_w", "bi_xy_std",
                                        "bi_rgb_std", "eps", NULL};
    char s1[96], s2[96];
    lt_opt_check(L, 3, fn, known);
    lt_crf_opts o = lt_crf_defaults();
    o.iterations = lt_opt_int_range(L, 3, "iterations", o.iterations, 0, 100000, fn);
    o.pos_w = lt_opt_real(L, 3, "pos_w", o.pos_w, LT_REAL_NONNEG, fn);
    o.pos_xy_std = lt_opt_real(L, 3, "pos_xy_std", o.pos_xy_std, LT_REAL_POSITIVE, fn);
    o.bi_w = lt_opt_real(L, 3, "bi_w", o.bi_w, LT_REAL_NONNEG, fn);
    o.bi_xy_std = lt_opt_real(L, 3, "bi_xy_std", o.bi_xy_std, LT_REAL_POSITIVE, fn);
    o.bi_rgb_std = lt_opt_real(L, 3, "bi_rgb_std", o.bi_rgb_std, LT_REAL_POSITIVE, fn);
    o.eps = lt_opt_real(L, 3, "eps", o.eps, LT_REAL_POSITIVE, fn);
    if (o.eps >= 1) {
        char b[32];
        lt_lua_error(L, "%s: option eps must be in (0, 1), got %s", fn, lt_numstr(b, sizeof b, o.eps));
    }
    lt_tensor *probs = lt_lua_checkdtype(L, 1, fn, "probs", LT_FLOAT32);
    if (probs->ndim != 3 || probs->size[0] < 1 || probs->size[1] < 1 || probs->size[2] < 1)
        lt_lua_error(L, "%s: probs must be K x H x W with K, H, W >= 1 (softmax output), got %s",
                     fn, lt_shape_str(probs, s1, sizeof s1));
    lt_tensor *rgb = check_image(L, 2, fn, "rgb", 1);
    if (rgb->size[1] != probs->size[1] || rgb->size[2] != probs->size[2])
        lt_lua_error(L, "%s: rgb %s does not match probs %s in H x W", fn,
                     lt_shape_str(rgb, s1, sizeof s1), lt_shape_str(probs, s2, sizeof s2));
    if (naive && probs->size[1] * probs->size[2] > 4096)
        lt_lua_error(L, "%s: the O(N^2) reference takes at most 4096 pixels, got %s", fn,
                     lt_shape_str(probs, s1, sizeof s1));
    {   /* the lattice's coordinates are the features: positions / xy std, colours / rgb std */
        int64_t ext = (rgb->size[1] > rgb->size[2] ? rgb->size[1] : rgb->size[2]) - 1;
        const char *names[2] = {"pos_xy_std", "bi_xy_std"};
        double stds[2] = {o.pos_xy_std, o.bi_xy_std};
        char b1[32], b2[32];
        for (int i = 0; i < 2; i++)
            if ((double)ext / stds[i] > LT_CRF_MAX_FEATURE)
                lt_lua_error(L, "%s: option %s %s is too small for a %I x %I image: position / %s "
                             "must stay within 1e6 (the lattice's coordinates), so %s must be >= %s",
                             fn, names[i], lt_numstr(b1, sizeof b1, stds[i]), (lua_Integer)rgb->size[1],
                             (lua_Integer)rgb->size[2], names[i], names[i],
                             lt_numstr(b2, sizeof b2, (double)ext / LT_CRF_MAX_FEATURE));
        double cmax = 0, cs = rgb->dtype == LT_UINT8 ? 1.0 : 255.0;
        int64_t nrgb = lt_numel(rgb);
        for (int64_t i = 0; i < nrgb; i++) {
            double v = fabs(rgb->dtype == LT_UINT8 ? (double)lt_u8(rgb)[i] : (double)lt_f32(rgb)[i]) * cs;
            cmax = v > cmax ? v : cmax;
        }
        if (cmax / o.bi_rgb_std > LT_CRF_MAX_FEATURE)
            lt_lua_error(L, "%s: option bi_rgb_std %s is too small for colours up to %s (0..255 scale): "
                         "colour / bi_rgb_std must stay within 1e6 (the lattice's coordinates)",
                         fn, lt_numstr(b1, sizeof b1, o.bi_rgb_std), lt_numstr(b2, sizeof b2, cmax));
    }
    int pushed;
    probs = lt_lua_contiguous(L, 1, fn, "probs", &pushed);
    {
        const float *p = lt_f32(probs);
        int64_t n = lt_numel(probs);
        for (int64_t i = 0; i < n; i++)
            if (!(p[i] >= 0) || !isfinite(p[i])) {
                char b[32];
                lt_lua_error(L, "%s: probs must hold finite probabilities >= 0, got %s at flat index %I",
                             fn, lt_numstr(b, sizeof b, (double)p[i]), (lua_Integer)i + 1);
            }
    }
    lt_tensor *q = lt_lua_newtensor(L, LT_FLOAT32, 3, probs->size, fn);
    lt_tensor *lab = lt_lua_newtensor(L, LT_INT32, 2, probs->size + 1, fn);
    check_status(L, (naive ? lt_dense_crf_naive : lt_dense_crf)(lt_lua_ctx(L), q, lab, probs, rgb, &o), fn);
    return 2;
}
static int l_dense_crf(lua_State *L) { return crf_impl(L, 0); }
static int l_dense_crf_naive(lua_State *L) { return crf_impl(L, 1); }

void lt_open_classic_seg(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"slic", l_slic},
        {"slic_naive", l_slic_naive},
        {"felzenszwalb", l_felzenszwalb},
        {"felzenszwalb_naive", l_felzenszwalb_naive},
        {"dense_crf", l_dense_crf},
        {"dense_crf_naive", l_dense_crf_naive},
        {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
