/* lua_metrics.c: Lua binding of the metric kernels (csrc/lt_metrics.c) as core.metrics.*.
 * Raw functions: lua/lunet/metrics/ checks the user's arguments and builds the public API. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "lt_lua.h"
#include "lt_lua.h"
#include "lt_metrics.h"

/* Raises a Lua error with the message only (no "file:line:" prefix), so the message is the
 * same whether the raw function is called from C, from lunet.metrics or from a script. */
static int raise(lua_State *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

/* Temporary memory owned by Lua (a userdata left on the stack): freed by the collector even
 * when an error is raised later. */
static void *tmp_buffer(lua_State *L, size_t nbytes) {
    void *p = lua_newuserdatauv(L, nbytes > 0 ? nbytes : 1, 0);
    memset(p, 0, nbytes > 0 ? nbytes : 1);
    return p;
}

static const char *shape_of(const lt_tensor *t, char *buf, size_t n) {
    return lt_shape_str(t, buf, n);
}

static lt_tensor *check_labels(lua_State *L, int idx, const char *fn, const char *arg) {
    lt_tensor *t = lt_lua_checktensor(L, idx, fn, arg);
    if (t->dtype != LT_INT32 && t->dtype != LT_UINT8)
        raise(L, "%s: %s must be an int32 or uint8 tensor, got %s", fn, arg,
                   lt_dtype_name(t->dtype));
    return t;
}

/* Requires two tensors of equal shape with 2 (H, W) or 3 (N, H, W) dims. */
static void check_same_maps(lua_State *L, const lt_tensor *a, const lt_tensor *b, const char *fn,
                            const char *an, const char *bn) {
    char s1[96], s2[96];
    int same = a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++) same = a->size[d] == b->size[d];
    if (!same)
        raise(L, "%s: %s shape %s does not match %s shape %s", fn, an,
                   shape_of(a, s1, sizeof s1), bn, shape_of(b, s2, sizeof s2));
    if (a->ndim != 2 && a->ndim != 3)
        raise(L, "%s: %s must be H x W or N x H x W, got %s", fn, an, shape_of(a, s1, sizeof s1));
}

/* Contiguous version of the tensor at idx; the copy (if any) is pushed and stays on the stack. */
static lt_tensor *contig(lua_State *L, int idx, const char *fn, const char *arg) {
    int pushed = 0;
    return lt_lua_contiguous(L, idx, fn, arg, &pushed);
}

/* confusion(pred, target, C, ignore_index|nil, per_image, fn) -> flat counts table, nimg */
static int confusion_impl(lua_State *L, int naive) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = luaL_optstring(L, 6, "confusion");
    lt_tensor *pred = lt_lua_checktensor(L, 1, fn, "pred");
    lt_tensor *target = lt_lua_checktensor(L, 2, fn, "target");
    lua_Integer C = luaL_checkinteger(L, 3);
    int has_ignore = !lua_isnoneornil(L, 4);
    lua_Integer ignore = has_ignore ? luaL_checkinteger(L, 4) : 0;
    int per_image = lua_toboolean(L, 5);
    if (C < 1 || C > 65536) raise(L, "%s: num_classes must be in 1..65536, got %I", fn, C);
    if (target->dtype == LT_FLOAT32)
        raise(L, "%s: target must hold int32 or uint8 class labels, got float32", fn);
    if (target->ndim != 2 && target->ndim != 3) {
        char s[96];
        raise(L, "%s: target must be H x W or N x H x W, got %s", fn, shape_of(target, s, sizeof s));
    }
    pred = contig(L, 1, fn, "pred");
    target = contig(L, 2, fn, "target");
    int64_t nimg = per_image && target->ndim == 3 ? target->size[0] : 1;
    int64_t ncells;
    if (lt_mul_ovf(nimg, C * C, &ncells) || lt_mul_ovf(ncells, (int64_t)sizeof(int64_t), &ncells)) {
        char s[96];
        raise(L, "%s: %I images of %I x %I counts overflow int64 (target %s)", fn, (lua_Integer)nimg,
              C, C, shape_of(target, s, sizeof s));
    }
    size_t cells = (size_t)(nimg * C * C);
    int64_t *cm = (int64_t *)tmp_buffer(L, cells * sizeof(int64_t));
    lt_label_fault fault = {0, 0, 0};
    lt_status st = (naive ? lt_confusion_forward_naive(cm, pred, target, (int)C, has_ignore, (int64_t)ignore, per_image, &fault)
                          : lt_confusion_forward(ctx, cm, pred, target, (int)C, has_ignore, (int64_t)ignore, per_image, &fault));
    if (st == LT_EINDEX) {
        if (has_ignore && !fault.in_pred)
            return raise(L, "%s: target has label %I, outside 0..%I and not the ignore_index (%I)",
                         fn, (lua_Integer)fault.value, C - 1, ignore);
        return raise(L, "%s: %s has label %I, outside 0..%I", fn,
                     fault.in_pred ? "pred" : "target", (lua_Integer)fault.value, C - 1);
    }
    if (st == LT_ESHAPE) {
        char s1[96], s2[96];
        return raise(L, "%s: pred %s does not fit target %s", fn, shape_of(pred, s1, sizeof s1),
                          shape_of(target, s2, sizeof s2));
    }
    lt_lua_check(L, st, fn);
    lua_createtable(L, (int)cells, 0);
    for (size_t i = 0; i < cells; i++) {
        lua_pushinteger(L, (lua_Integer)cm[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushinteger(L, (lua_Integer)nimg);
    return 2;
}
static int l_confusion(lua_State *L) { return confusion_impl(L, 0); }
static int l_confusion_naive(lua_State *L) { return confusion_impl(L, 1); }

/* edt(mask (H, W), sy, sx) -> float32 (H, W) distance to the nearest nonzero pixel */
static int edt_impl(lua_State *L, int naive) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = naive ? "edt_naive" : "edt";
    check_labels(L, 1, fn, "mask");
    double sy = luaL_optnumber(L, 2, 1.0), sx = luaL_optnumber(L, 3, 1.0);
    if (!lt_in_range(sy, LT_REAL_POSITIVE) || !lt_in_range(sx, LT_REAL_POSITIVE)) {
        char a[64], b[64];
        raise(L, "%s: spacing must be positive finite numbers, got {%s, %s}", fn,
              lt_numstr(a, sizeof a, sy), lt_numstr(b, sizeof b, sx));
    }
    lt_tensor *m = contig(L, 1, fn, "mask");
    if (m->ndim != 2) {
        char s[96];
        raise(L, "%s: mask must be H x W, got %s", fn, shape_of(m, s, sizeof s));
    }
    int64_t H = m->size[0], W = m->size[1], n = H * W;
    uint8_t *seed = (uint8_t *)tmp_buffer(L, (size_t)n);
    for (int64_t i = 0; i < n; i++) seed[i] = lt_get_flat(m, i) != 0.0;
    double *d = (double *)tmp_buffer(L, (size_t)n * sizeof(double));
    lt_lua_check(L, (naive ? lt_edt_sq_naive(d, seed, H, W, sy, sx)
                           : lt_edt_sq(ctx, d, seed, H, W, sy, sx)), fn);
    lt_tensor *out = lt_lua_newtensor(L, LT_FLOAT32, 2, m->size, fn);
    float *o = lt_f32(out);
    for (int64_t i = 0; i < n; i++) o[i] = (float)sqrt(d[i]);
    return 1;
}
static int l_edt(lua_State *L) { return edt_impl(L, 0); }
static int l_edt_naive(lua_State *L) { return edt_impl(L, 1); }

/* boundary(mask (H, W) or (N, H, W)) -> uint8 mask of boundary pixels */
static int l_boundary(lua_State *L) {
    const char *fn = "boundary";
    check_labels(L, 1, fn, "mask");
    lt_tensor *m = contig(L, 1, fn, "mask");
    if (m->ndim != 2 && m->ndim != 3) {
        char s[96];
        raise(L, "%s: mask must be H x W or N x H x W, got %s", fn, shape_of(m, s, sizeof s));
    }
    int64_t H = m->size[m->ndim - 2], W = m->size[m->ndim - 1], hw = H * W;
    int64_t nimg = m->ndim == 3 ? m->size[0] : 1;
    uint8_t *tmp = (uint8_t *)tmp_buffer(L, (size_t)hw);
    lt_tensor *out = lt_lua_newtensor(L, LT_UINT8, m->ndim, m->size, fn);
    for (int64_t n = 0; n < nimg; n++) {
        for (int64_t i = 0; i < hw; i++) tmp[i] = lt_get_flat(m, n * hw + i) != 0.0;
        lt_boundary4(lt_u8(out) + n * hw, tmp, H, W);
    }
    return 1;
}

static void push_numbers(lua_State *L, const double *v, int64_t n) {
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* hausdorff(pred, target, percentile|nil, sy, sx) -> table of distances, one per image */
static int hausdorff_impl(lua_State *L, int naive) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "hausdorff";
    lt_tensor *p = check_labels(L, 1, fn, "pred");
    lt_tensor *t = check_labels(L, 2, fn, "target");
    check_same_maps(L, p, t, fn, "pred", "target");
    double pct = lua_isnoneornil(L, 3) ? -1.0 : luaL_checknumber(L, 3);
    double sy = luaL_optnumber(L, 4, 1.0), sx = luaL_optnumber(L, 5, 1.0);
    char a[64], b[64];
    if (!lua_isnoneornil(L, 3) && !(pct >= 0 && pct <= 100))
        raise(L, "%s: percentile must be in [0, 100], got %s", fn, lt_numstr(a, sizeof a, pct));
    if (!lt_in_range(sy, LT_REAL_POSITIVE) || !lt_in_range(sx, LT_REAL_POSITIVE))
        raise(L, "%s: spacing must be positive finite numbers, got {%s, %s}", fn,
              lt_numstr(a, sizeof a, sy), lt_numstr(b, sizeof b, sx));
    p = contig(L, 1, fn, "pred");
    t = contig(L, 2, fn, "target");
    int64_t nimg = t->ndim == 3 ? t->size[0] : 1;
    double *out = (double *)tmp_buffer(L, (size_t)nimg * sizeof(double));
    lt_lua_check(L, (naive ? lt_hausdorff_forward_naive(out, p, t, sy, sx, pct)
                           : lt_hausdorff_forward(ctx, out, p, t, sy, sx, pct)),
                 fn);
    push_numbers(L, out, nimg);
    return 1;
}
static int l_hausdorff(lua_State *L) { return hausdorff_impl(L, 0); }
static int l_hausdorff_naive(lua_State *L) { return hausdorff_impl(L, 1); }

/* Saliency: sal float32 and mask int32/uint8, equal shapes (H, W) or (N, H, W). */
typedef struct sal_args { const float *sal; lt_tensor *mask; int64_t nimg, H, W; } sal_args;

static sal_args sal_check(lua_State *L, const char *fn) {
    sal_args a;
    lt_tensor *s = lt_lua_checktensor(L, 1, fn, "sal");
    lt_tensor *m = lt_lua_checktensor(L, 2, fn, "mask");
    if (s->dtype != LT_FLOAT32)
        raise(L, "%s: sal must be a float32 map in [0, 1], got %s", fn, lt_dtype_name(s->dtype));
    if (m->dtype != LT_INT32 && m->dtype != LT_UINT8)
        raise(L, "%s: mask must be an int32 or uint8 tensor (nonzero = foreground), got %s", fn,
                   lt_dtype_name(m->dtype));
    check_same_maps(L, s, m, fn, "sal", "mask");
    s = contig(L, 1, fn, "sal");
    a.mask = contig(L, 2, fn, "mask");
    a.sal = lt_f32(s);
    if (a.sal == NULL || lt_data(a.mask) == NULL) raise(L, "%s: tensor was freed", fn);
    a.nimg = s->ndim == 3 ? s->size[0] : 1;
    a.H = s->size[s->ndim - 2];
    a.W = s->size[s->ndim - 1];
    int64_t n = a.nimg * a.H * a.W;
    for (int64_t i = 0; i < n; i++)
        if (!(a.sal[i] >= 0.0f && a.sal[i] <= 1.0f))
            raise(L, "%s: sal values must lie in [0, 1], found %f", fn, (double)a.sal[i]);
    return a;
}

static int l_mae(lua_State *L) {
    sal_args a = sal_check(L, "mae");
    int64_t hw = a.H * a.W;
    double *r = (double *)tmp_buffer(L, (size_t)a.nimg * sizeof(double));
    for (int64_t n = 0; n < a.nimg; n++) r[n] = lt_sal_mae(a.sal + n * hw, a.mask, n * hw, hw);
    push_numbers(L, r, a.nimg);
    return 1;
}

static int l_fmeasure(lua_State *L) {
    double beta2 = luaL_optnumber(L, 3, 0.3);
    sal_args a = sal_check(L, "fmeasure");
    lt_check_real(L, beta2, LT_REAL_POSITIVE, "fmeasure", "beta2");
    int64_t hw = a.H * a.W;
    double *r = (double *)tmp_buffer(L, (size_t)a.nimg * 2 * sizeof(double));
    for (int64_t n = 0; n < a.nimg; n++)
        lt_sal_fmeasure(&r[n], &r[a.nimg + n], NULL, a.sal + n * hw, a.mask, n * hw, hw, beta2);
    push_numbers(L, r, a.nimg);
    push_numbers(L, r + a.nimg, a.nimg);
    return 2;
}

static int l_smeasure(lua_State *L) {
    double alpha = luaL_optnumber(L, 3, 0.5);
    sal_args a = sal_check(L, "s_measure");
    lt_check_real(L, alpha, LT_REAL_UNIT, "s_measure", "alpha");
    int64_t hw = a.H * a.W;
    double *r = (double *)tmp_buffer(L, (size_t)a.nimg * sizeof(double));
    for (int64_t n = 0; n < a.nimg; n++)
        r[n] = lt_sal_smeasure(a.sal + n * hw, a.mask, n * hw, a.H, a.W, alpha);
    push_numbers(L, r, a.nimg);
    return 1;
}

static int l_emeasure(lua_State *L) {
    sal_args a = sal_check(L, "e_measure");
    int64_t hw = a.H * a.W, N = a.nimg;
    double *r = (double *)tmp_buffer(L, (size_t)N * 3 * sizeof(double));
    for (int64_t n = 0; n < N; n++)
        lt_sal_emeasure(&r[n], &r[N + n], &r[2 * N + n], a.sal + n * hw, a.mask, n * hw, hw);
    push_numbers(L, r + N, N);       /* mean over 256 thresholds */
    push_numbers(L, r, N);           /* adaptive threshold */
    push_numbers(L, r + 2 * N, N);   /* max over 256 thresholds */
    return 3;
}

/* match_instances(pred_ids, gt_ids, thresholds[, fn]) -> list per image of
 * {tp = {...}, fp = {...}, fn = {...}, iou_sum = {...}} (one entry per threshold) */
static int match_impl(lua_State *L, int naive) {
    const char *fn = luaL_optstring(L, 4, "match_instances");
    lt_tensor *p = check_labels(L, 1, fn, "pred_ids");
    lt_tensor *g = check_labels(L, 2, fn, "gt_ids");
    check_same_maps(L, p, g, fn, "pred_ids", "gt_ids");
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer nlen = luaL_len(L, 3);
    if (nlen < 1 || nlen > 1000) raise(L, "%s: need 1..1000 thresholds, got %I", fn, nlen);
    const int nthr = (int)nlen;
    double *thr = (double *)tmp_buffer(L, (size_t)nthr * sizeof(double));
    for (int k = 0; k < nthr; k++) {
        lua_rawgeti(L, 3, k + 1);
        if (!lua_isnumber(L, -1)) raise(L, "%s: threshold %d is not a number", fn, k + 1);
        thr[k] = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (!(thr[k] >= 0 && thr[k] <= 1)) {
            char nb[64];
            raise(L, "%s: threshold %d must be in [0, 1], got %s", fn, k + 1,
                  lt_numstr(nb, sizeof nb, thr[k]));
        }
    }
    p = contig(L, 1, fn, "pred_ids");
    g = contig(L, 2, fn, "gt_ids");
    int64_t nimg = g->ndim == 3 ? g->size[0] : 1;
    int64_t hw = g->size[g->ndim - 2] * g->size[g->ndim - 1];
    int64_t *cnt = (int64_t *)tmp_buffer(L, (size_t)nthr * 3 * sizeof(int64_t));
    double *sum = (double *)tmp_buffer(L, (size_t)nthr * sizeof(double));
    lua_createtable(L, (int)nimg, 0);
    for (int64_t n = 0; n < nimg; n++) {
        lt_status st = (naive ? lt_match_instances_naive : lt_match_instances)(
            cnt, cnt + nthr, cnt + 2 * nthr, sum, p, g, n * hw, hw, thr, nthr);
        if (st == LT_EINDEX) return raise(L, "%s: instance ids must be >= 0", fn);
        if (st == LT_ENOMEM || st == LT_EOVERFLOW) {
            char s1[96], s2[96];
            return raise(L, "%s: cannot allocate the instance tables of image %I (pred_ids %s, gt_ids %s)",
                         fn, (lua_Integer)n + 1, shape_of(p, s1, sizeof s1), shape_of(g, s2, sizeof s2));
        }
        lt_lua_check(L, st, fn);
        lua_createtable(L, 0, 4);
        static const char *const names[3] = {"tp", "fp", "fn"};
        for (int j = 0; j < 3; j++) {
            lua_createtable(L, nthr, 0);
            for (int k = 0; k < nthr; k++) {
                lua_pushinteger(L, (lua_Integer)cnt[j * nthr + k]);
                lua_rawseti(L, -2, k + 1);
            }
            lua_setfield(L, -2, names[j]);
        }
        push_numbers(L, sum, nthr);
        lua_setfield(L, -2, "iou_sum");
        lua_rawseti(L, -2, (lua_Integer)n + 1);
    }
    return 1;
}
static int l_match_instances(lua_State *L) { return match_impl(L, 0); }
static int l_match_instances_naive(lua_State *L) { return match_impl(L, 1); }

/* edt3(mask (D, H, W), sd, sh, sw, naive) -> float32 (D, H, W) distance to the nearest
 * nonzero voxel (+inf without any) */
static int l_edt3(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    int naive = lua_toboolean(L, 5);
    const char *fn = naive ? "edt3_naive" : "edt3";
    check_labels(L, 1, fn, "mask");
    double sp[3];
    for (int i = 0; i < 3; i++) {
        sp[i] = luaL_optnumber(L, 2 + i, 1.0);
        if (!lt_in_range(sp[i], LT_REAL_POSITIVE)) {
            char a[64];
            raise(L, "%s: spacing must be positive finite numbers, got %s", fn, lt_numstr(a, sizeof a, sp[i]));
        }
    }
    lt_tensor *m = contig(L, 1, fn, "mask");
    if (m->ndim != 3) {
        char s[96];
        raise(L, "%s: mask must be D x H x W, got %s", fn, shape_of(m, s, sizeof s));
    }
    int64_t D = m->size[0], H = m->size[1], W = m->size[2], n = D * H * W;
    uint8_t *seed = (uint8_t *)tmp_buffer(L, (size_t)n);
    for (int64_t i = 0; i < n; i++) seed[i] = lt_get_flat(m, i) != 0.0;
    double *d = (double *)tmp_buffer(L, (size_t)n * sizeof(double));
    lt_lua_check(L, (naive ? lt_edt3_sq_naive(d, seed, D, H, W, sp[0], sp[1], sp[2])
                           : lt_edt3_sq(ctx, d, seed, D, H, W, sp[0], sp[1], sp[2])), fn);
    lt_tensor *out = lt_lua_newtensor(L, LT_FLOAT32, 3, m->size, fn);
    float *o = lt_f32(out);
    for (int64_t i = 0; i < n; i++) o[i] = (float)sqrt(d[i]);
    return 1;
}

/* boundary6(mask (D, H, W)) -> uint8 mask of the voxels with a 6-neighbour off */
static int l_boundary6(lua_State *L) {
    const char *fn = "boundary6";
    check_labels(L, 1, fn, "mask");
    lt_tensor *m = contig(L, 1, fn, "mask");
    if (m->ndim != 3) {
        char s[96];
        raise(L, "%s: mask must be D x H x W, got %s", fn, shape_of(m, s, sizeof s));
    }
    int64_t n = lt_numel(m);
    uint8_t *tmp = (uint8_t *)tmp_buffer(L, (size_t)n);
    for (int64_t i = 0; i < n; i++) tmp[i] = lt_get_flat(m, i) != 0.0;
    lt_tensor *out = lt_lua_newtensor(L, LT_UINT8, 3, m->size, fn);
    lt_boundary6(lt_u8(out), tmp, m->size[0], m->size[1], m->size[2]);
    return 1;
}

/* surface(pred, target, vol, sd, sh, sw, percentile|nil, tolerance|nil, fn, naive)
 * -> hd list (percentile or max), nsd list (nil without tolerance); one entry per item */
static int l_surface(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = luaL_optstring(L, 9, "surface");
    int vol = lua_toboolean(L, 3), naive = lua_toboolean(L, 10);
    lt_tensor *p = check_labels(L, 1, fn, "pred");
    lt_tensor *t = check_labels(L, 2, fn, "target");
    char s1[96], s2[96];
    int same = p->ndim == t->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = p->size[d] == t->size[d];
    if (!same)
        raise(L, "%s: pred shape %s does not match target shape %s", fn, shape_of(p, s1, sizeof s1),
              shape_of(t, s2, sizeof s2));
    if (vol ? (t->ndim != 3 && t->ndim != 4) : (t->ndim != 2 && t->ndim != 3))
        raise(L, vol ? "%s: pred must be D x H x W or N x D x H x W, got %s"
                     : "%s: pred must be H x W or N x H x W, got %s", fn, shape_of(p, s1, sizeof s1));
    double sp[3] = {luaL_checknumber(L, 4), luaL_checknumber(L, 5), luaL_checknumber(L, 6)};
    for (int i = 0; i < 3; i++)
        if (!lt_in_range(sp[i], LT_REAL_POSITIVE)) {
            char a[64];
            raise(L, "%s: spacing must be positive finite numbers, got %s", fn, lt_numstr(a, sizeof a, sp[i]));
        }
    double pct = lua_isnoneornil(L, 7) ? -1.0 : luaL_checknumber(L, 7);
    int want_nsd = !lua_isnoneornil(L, 8);
    double tol = want_nsd ? luaL_checknumber(L, 8) : 0.0;
    if (!lua_isnoneornil(L, 7) && !(pct >= 0 && pct <= 100)) {
        char a[64];
        raise(L, "%s: percentile must be in [0, 100], got %s", fn, lt_numstr(a, sizeof a, pct));
    }
    if (want_nsd && !lt_in_range(tol, LT_REAL_NONNEG)) {
        char a[64];
        raise(L, "%s: tolerance must be a finite number >= 0, got %s", fn, lt_numstr(a, sizeof a, tol));
    }
    p = contig(L, 1, fn, "pred");
    t = contig(L, 2, fn, "target");
    int64_t nimg = t->ndim == (vol ? 4 : 3) ? t->size[0] : 1;
    double *hd = (double *)tmp_buffer(L, (size_t)nimg * sizeof(double));
    double *nsd = (double *)tmp_buffer(L, (size_t)nimg * sizeof(double));
    lt_lua_check(L, (naive ? lt_surface_forward_naive(hd, want_nsd ? nsd : NULL, p, t, vol, sp, pct, tol)
                           : lt_surface_forward(ctx, hd, want_nsd ? nsd : NULL, p, t, vol, sp, pct, tol)),
                 fn);
    push_numbers(L, hd, nimg);
    if (want_nsd) push_numbers(L, nsd, nimg);
    else lua_pushnil(L);
    return 2;
}

void lt_open_metrics(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"confusion", l_confusion},
        {"confusion_naive", l_confusion_naive},
        {"edt", l_edt},
        {"edt_naive", l_edt_naive},
        {"boundary", l_boundary},
        {"hausdorff", l_hausdorff},
        {"hausdorff_naive", l_hausdorff_naive},
        {"mae", l_mae},
        {"fmeasure", l_fmeasure},
        {"s_measure", l_smeasure},
        {"e_measure", l_emeasure},
        {"match_instances", l_match_instances},
        {"match_instances_naive", l_match_instances_naive},
        {"edt3", l_edt3},
        {"boundary6", l_boundary6},
        {"surface", l_surface},
        {NULL, NULL}
    };
    luaL_setfuncs(L, fns, 0);
}
