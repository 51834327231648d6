/* lua_nn_util.c: the helpers of lt_lua_nn.h: numbers printed in full for messages and
 * range checks of real-valued options (NaN and infinities rejected where they make no sense). */
#include "lt_lua_nn.h"

#include <math.h>
#include <stdio.h>

const char *lt_nn_numstr(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "nan");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else if (v == floor(v) && fabs(v) < 9223372036854775808.0) snprintf(buf, n, "%.0f", v);
    else snprintf(buf, n, "%.14g", v);
    return buf;
}

int lt_nn_in_range(double v, lt_real_range r) {
    switch (r) {
    case LT_REAL_UNIT: return v >= 0.0 && v <= 1.0;
    case LT_REAL_POSITIVE: return v > 0.0 && isfinite(v);
    case LT_REAL_NONNEG: return v >= 0.0 && isfinite(v);
    case LT_REAL_FINITE:
    default: return isfinite(v);
    }
}

void lt_nn_check_real(lua_State *L, double v, lt_real_range r, const char *fn, const char *what) {
    if (lt_nn_in_range(v, r)) return;
    static const char *const want[] = {"a finite number", "in [0, 1]", "a positive finite number",
                                       "a finite number >= 0"};
    char nb[64];
    lt_lua_error(L, "%s: %s must be %s, got %s", fn, what, want[r], lt_nn_numstr(nb, sizeof nb, v));
}

double lt_nn_opt_real(lua_State *L, int idx, const char *key, double def, lt_real_range r,
                      const char *fn) {
    if (!lt_opt_get(L, idx, key, fn)) return def;
    if (lua_type(L, -1) != LUA_TNUMBER)
        lt_lua_error(L, "%s: %s must be a number, got %s", fn, key, luaL_typename(L, -1));
    double v = (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    lt_nn_check_real(L, v, r, fn, key);
    return v;
}

int lt_nn_overflow(lua_State *L, const char *fn, const char *what, const char *detail) {
    return lt_lua_error(L, "%s: %s overflows int64 (%s)", fn, what, detail);
}
