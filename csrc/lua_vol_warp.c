/* lua_vol_warp.c: Lua binding of the 3-D resampling kernel (table core.vol), used by
 * lunet.transforms' volume transforms: affine(in, out_shape, m, linear, fill[, naive]). */
#include "lt_lua.h"
#include "lt_vol_warp.h"

/* affine(in (C, D, H, W), {Do, Ho, Wo}, m (12 numbers: rows of the 3 x 4 map from output
 * (z, y, x, 1) to input), linear (bool), fill, naive (bool)) -> out (C, Do, Ho, Wo) */
static int l_affine(lua_State *L) {
    const char *fn = "vol.affine";
    lt_tensor *in = lt_lua_checktensor(L, 1, fn, "x");
    char b[128];
    if (in->ndim != 4)
        return lt_lua_error(L, "%s: x must be C x D x H x W, got %s", fn, lt_shape_str(in, b, sizeof b));
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    int linear = lua_toboolean(L, 4);
    double fill = luaL_optnumber(L, 5, 0.0);
    int naive = lua_toboolean(L, 6);
    if (linear && in->dtype != LT_FLOAT32)
        return lt_lua_error(L, "%s: trilinear resampling needs float32, got %s", fn, lt_dtype_name(in->dtype));
    if (!lt_fits(fill, in->dtype)) {
        char v[64];
        return lt_lua_error(L, "%s: fill %s does not fit %s", fn, lt_numstr(v, sizeof v, fill),
                            lt_dtype_name(in->dtype));
    }
    double m[12];
    for (int i = 0; i < 12; i++) {
        lua_rawgeti(L, 3, i + 1);
        m[i] = luaL_checknumber(L, -1);
        lua_pop(L, 1);
        if (!lt_in_range(m[i], LT_REAL_FINITE)) return lt_lua_error(L, "%s: the matrix must be finite", fn);
    }
    int64_t size[4] = {in->size[0], 0, 0, 0};
    for (int i = 0; i < 3; i++) {
        lua_rawgeti(L, 2, i + 1);
        lua_Integer v = luaL_checkinteger(L, -1);
        lua_pop(L, 1);
        if (v < 1 || v > ((lua_Integer)1 << 31))
            return lt_lua_error(L, "%s: output sizes must be in [1, 2^31], got %I", fn, v);
        size[i + 1] = (int64_t)v;
    }
    int pushed;
    in = lt_lua_contiguous(L, 1, fn, "x", &pushed);
    lt_tensor *out = lt_lua_newtensor_uninit(L, in->dtype, 4, size, fn);
    lt_lua_check(L, naive ? lt_vol_affine_naive(out, in, m, linear, fill)
                          : lt_vol_affine(lt_lua_ctx(L), out, in, m, linear, fill), fn);
    return 1;
}

void lt_open_vol(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"affine", l_affine},
        {NULL, NULL}
    };
    luaL_setfuncs(L, fns, 0);
}
