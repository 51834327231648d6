/* lt_lua_nn.h: number formatting and real-valued option checks shared by the nn kernel
 * bindings (lua_conv.c, lua_pool.c, lua_norm.c, lua_loss.c, lua_metrics.c, lua_warp.c).
 *
 *   static const char *const keys[] = {"training", "momentum", "eps", NULL};
 *   lt_opt_check(L, 6, "batch_norm", keys);
 *   double m = lt_nn_opt_real(L, 6, "momentum", 0.1, LT_REAL_UNIT, "batch_norm");
 *   // momentum = 5 raises "batch_norm: momentum must be in [0, 1], got 5"
 */
#ifndef LT_LUA_NN_H
#define LT_LUA_NN_H

#include "lt_lua.h"

/* The accepted range of a real value; NaN is outside every range. */
typedef enum {
    LT_REAL_FINITE,     /* any finite number */
    LT_REAL_UNIT,       /* [0, 1] */
    LT_REAL_POSITIVE,   /* finite and > 0 */
    LT_REAL_NONNEG      /* finite and >= 0 */
} lt_real_range;

/* v as a message prints it (as lunet.errors' show): "5", "0.25", "1e+300", "nan", "-inf". */
const char *lt_nn_numstr(char *buf, size_t n, double v);
/* 1 when v is inside r. */
int lt_nn_in_range(double v, lt_real_range r);
/* Raises "fn: what must be <range>, got v" unless v is inside r. */
void lt_nn_check_real(lua_State *L, double v, lt_real_range r, const char *fn, const char *what);
/* opts[key] (a number; def when absent), checked against r with the key as `what`. */
double lt_nn_opt_real(lua_State *L, int idx, const char *key, double def, lt_real_range r,
                      const char *fn);
/* Raises "fn: <what> overflows int64 (<detail>)"; for size formulas that would wrap. */
int lt_nn_overflow(lua_State *L, const char *fn, const char *what, const char *detail);

#endif
