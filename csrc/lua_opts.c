/* lua_opts.c: option tables, the one checker for the C side. Every binding that reads an
 * option table names the keys it knows with lt_opt_check first; the readers below then
 * fetch, type-check and range-check single keys. Lua code checks its own tables through
 * lunet.core.check_options, which runs the same function. */
#include "lt_lua.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Edit distance with transpositions (optimal string alignment), capped at 3: enough to
 * tell a slip of the keyboard from a different word. */
static int edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return 99;
    if ((na > nb ? na - nb : nb - na) > 3) return 99;
    int d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[na][nb];
}

/* The known name closest to key: within 1 edit for short names, 2 from 5 letters, 3 from
 * 9; else a known name that starts with key or that key starts with (ignore_idx, mod). */
const char *lt_opt_suggest(const char *key, const char *const *known, int n) {
    const char *best = NULL;
    int bestscore = 1000;
    size_t nk = strlen(key);
    int limit = nk < 5 ? 1 : nk < 9 ? 2 : 3;
    for (int i = 0; i < n; i++) {
        /* a typo within the limit beats any prefix match: "mask" suggests "masks", not
         * "mask_mode" */
        int dist = edit_distance(key, known[i]), score;
        if (dist <= limit) {
            score = 2 * dist;
        } else {
            size_t m = strlen(known[i]);
            size_t p = nk < m ? nk : m;
            if (p < 3 || strncmp(key, known[i], p) != 0) continue;
            score = 2 * limit + 1;
        }
        if (score < bestscore) {
            bestscore = score;
            best = known[i];
        }
    }
    return best;
}

static int is_known(const char *k, const char *const *known, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(k, known[i]) == 0) return 1;
    return 0;
}

/* Pushes "fn: unknown option 'k' (did you mean 'x'?)" or "... (known options: a, b, c)"
 * for the key at the top of the stack (left in place). */
static void push_unknown(lua_State *L, const char *fn, const char *const *known, int n) {
    int keyidx = lua_gettop(L);
    if (lua_type(L, keyidx) == LUA_TSTRING) {
        const char *key = lua_tostring(L, keyidx);
        const char *s = lt_opt_suggest(key, known, n);
        if (s) {
            lua_pushfstring(L, "%s: unknown option '%s' (did you mean '%s'?)", fn, key, s);
            return;
        }
        lua_pushfstring(L, "%s: unknown option '%s'", fn, key);
    } else {
        const char *k = luaL_tolstring(L, keyidx, NULL);
        lua_pushfstring(L, "%s: unknown option [%s]", fn, k);
        lua_remove(L, -2);
    }
    if (n == 0) {
        lua_pushstring(L, " (it takes no options)");
        lua_concat(L, 2);
        return;
    }
    lua_pushstring(L, lua_type(L, keyidx) == LUA_TSTRING ? " (known options: " : " (options are named: ");
    lua_concat(L, 2);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, known[i]);
        lua_pushstring(L, i + 1 < n ? ", " : ")");
        lua_concat(L, 3);
    }
}

/* Returns 0 if every key is known, else pushes the message and returns 1. Reports the
 * smallest unknown string key (the message does not depend on hash order), else the first
 * key of another type. */
static int find_unknown(lua_State *L, int idx, const char *fn, const char *const *known, int n) {
    idx = lua_absindex(L, idx);
    lua_pushnil(L); /* slot: the key to report */
    int slot = lua_gettop(L);
    const char *worst = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            if (!is_known(k, known, n) && (!worst || strcmp(k, worst) < 0)) {
                worst = k;
                lua_copy(L, -1, slot);
            }
        } else if (!worst && lua_isnil(L, slot)) {
            lua_copy(L, -1, slot);
        }
    }
    if (lua_isnil(L, slot)) {
        lua_pop(L, 1);
        return 0;
    }
    push_unknown(L, fn, known, n);
    lua_remove(L, slot);
    return 1;
}

static int count_known(const char *const *known) {
    int n = 0;
    while (known && known[n]) n++;
    return n;
}

void lt_opt_check(lua_State *L, int idx, const char *fn, const char *const *known) {
    if (lua_isnoneornil(L, idx)) return;
    if (!lua_istable(L, idx) || luaL_testudata(L, idx, LT_TENSOR_MT))
        lt_lua_error(L, "%s: options must be a table, got %s", fn, luaL_typename(L, idx));
    if (find_unknown(L, idx, fn, known, count_known(known))) lua_error(L);
}

int lt_opt_get(lua_State *L, int idx, const char *key, const char *fn) {
    if (lua_isnoneornil(L, idx)) return 0;
    if (!lua_istable(L, idx)) lt_lua_error(L, "%s: options must be a table, got %s", fn, luaL_typename(L, idx));
    lua_getfield(L, idx, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

lua_Integer lt_opt_int(lua_State *L, int idx, const char *key, lua_Integer def, const char *fn) {
    if (!lt_opt_get(L, idx, key, fn)) return def;
    int isnum;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    if (!isnum) {
        if (lua_type(L, -1) == LUA_TNUMBER)
            lt_lua_error(L, "%s: option %s must be an integer, got %s", fn, key, lua_tostring(L, -1));
        lt_lua_error(L, "%s: option %s must be an integer, got %s", fn, key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

lua_Number lt_opt_num(lua_State *L, int idx, const char *key, lua_Number def, const char *fn) {
    if (!lt_opt_get(L, idx, key, fn)) return def;
    int isnum;
    lua_Number v = lua_tonumberx(L, -1, &isnum);
    if (!isnum) lt_lua_error(L, "%s: option %s must be a number, got %s", fn, key, luaL_typename(L, -1));
    lua_pop(L, 1);
    return v;
}

lua_Integer lt_opt_int_range(lua_State *L, int idx, const char *key, lua_Integer def, lua_Integer lo,
                             lua_Integer hi, const char *fn) {
    lua_Integer v = lt_opt_int(L, idx, key, def, fn);
    if (v < lo || v > hi) {
        if (hi == LUA_MAXINTEGER) lt_lua_error(L, "%s: option %s must be >= %I, got %I", fn, key, lo, v);
        lt_lua_error(L, "%s: option %s must be in [%I, %I], got %I", fn, key, lo, hi, v);
    }
    return v;
}

lua_Number lt_opt_num_range(lua_State *L, int idx, const char *key, lua_Number def, lua_Number lo,
                            lua_Number hi, const char *fn) {
    lua_Number v = lt_opt_num(L, idx, key, def, fn);
    if (!(v >= lo && v <= hi)) { /* NaN fails too */
        lua_pushnumber(L, v);
        const char *got = lua_tostring(L, -1);
        if (isinf(hi) && hi > 0) lt_lua_error(L, "%s: option %s must be >= %f, got %s", fn, key, lo, got);
        lt_lua_error(L, "%s: option %s must be in [%f, %f], got %s", fn, key, lo, hi, got);
    }
    return v;
}

int lt_opt_bool(lua_State *L, int idx, const char *key, int def, const char *fn) {
    if (!lt_opt_get(L, idx, key, fn)) return def;
    if (!lua_isboolean(L, -1)) lt_lua_error(L, "%s: option %s must be a boolean, got %s", fn, key, luaL_typename(L, -1));
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

void lt_opt_pair(lua_State *L, int idx, const char *key, lua_Integer def, lua_Integer out[2],
                 const char *fn) {
    out[0] = out[1] = def;
    if (!lt_opt_get(L, idx, key, fn)) return;
    int isnum;
    if (lua_istable(L, -1)) {
        if (luaL_len(L, -1) != 2) lt_lua_error(L, "%s: option %s must be a number or a pair {h, w}", fn, key);
        for (int i = 0; i < 2; i++) {
            lua_geti(L, -1, i + 1);
            out[i] = lua_tointegerx(L, -1, &isnum);
            if (!isnum) lt_lua_error(L, "%s: option %s[%d] must be an integer, got %s", fn, key, i + 1,
                                     luaL_tolstring(L, -1, NULL));
            lua_pop(L, 1);
        }
    } else {
        out[0] = out[1] = lua_tointegerx(L, -1, &isnum);
        if (!isnum) lt_lua_error(L, "%s: option %s must be an integer or a pair {h, w}, got %s", fn, key,
                                 luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);
}

/* core.check_options(opts, fn, known) -> nil | message. known is a list of names or a set
 * (name -> true). The Lua side raises the message at its caller's level. */
static int l_check_options(lua_State *L) {
    const char *fn = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    if (lua_isnoneornil(L, 1)) return 0;
    if (!lua_istable(L, 1) || luaL_testudata(L, 1, LT_TENSOR_MT)) {
        lua_pushfstring(L, "%s: options must be a table, got %s", fn, luaL_typename(L, 1));
        return 1;
    }
    /* collect the known names (list or set) into a C array held by a userdata box */
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, 3)) {
        lua_pop(L, 1);
        n++;
    }
    const char **known = (const char **)lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 1);
    int box = lua_gettop(L);
    lua_newtable(L); /* keeps the strings alive */
    int strs = lua_gettop(L);
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, 3)) {
        if (lua_type(L, -1) == LUA_TSTRING) lua_pushvalue(L, -1);          /* list entry */
        else if (lua_type(L, -2) == LUA_TSTRING) lua_pushvalue(L, -2);     /* set key */
        else {
            lua_pop(L, 1);
            continue;
        }
        known[k] = lua_tostring(L, -1);
        lua_rawseti(L, strs, k + 1);
        lua_pop(L, 1);
        k++;
    }
    known[k] = NULL;
    lua_setiuservalue(L, box, 1);
    /* sorted, so "known options" lists read the same every time */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && strcmp(known[j - 1], known[j]) > 0; j--) {
            const char *t = known[j];
            known[j] = known[j - 1];
            known[j - 1] = t;
        }
    if (find_unknown(L, 1, fn, known, k)) return 1;
    return 0;
}

void lt_open_opts(lua_State *L) {
    lua_pushcfunction(L, l_check_options);
    lua_setfield(L, -2, "check_options");
}

/* ---- real-valued checks and numbers printed in full ---- */

const char *lt_numstr(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "nan");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else if (v == floor(v) && fabs(v) < 9223372036854775808.0) snprintf(buf, n, "%.0f", v);
    else snprintf(buf, n, "%.14g", v);
    return buf;
}

int lt_in_range(double v, lt_real_range r) {
    switch (r) {
    case LT_REAL_UNIT: return v >= 0.0 && v <= 1.0;
    case LT_REAL_POSITIVE: return v > 0.0 && isfinite(v);
    case LT_REAL_NONNEG: return v >= 0.0 && isfinite(v);
    case LT_REAL_FINITE:
    default: return isfinite(v);
    }
}

void lt_check_real(lua_State *L, double v, lt_real_range r, const char *fn, const char *what) {
    if (lt_in_range(v, r)) return;
    static const char *const want[] = {"a finite number", "in [0, 1]", "a positive finite number",
                                       "a finite number >= 0"};
    char nb[64];
    lt_lua_error(L, "%s: %s must be %s, got %s", fn, what, want[r], lt_numstr(nb, sizeof nb, v));
}

double lt_opt_real(lua_State *L, int idx, const char *key, double def, lt_real_range r,
                      const char *fn) {
    if (!lt_opt_get(L, idx, key, fn)) return def;
    if (lua_type(L, -1) != LUA_TNUMBER)
        lt_lua_error(L, "%s: %s must be a number, got %s", fn, key, luaL_typename(L, -1));
    double v = (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    lt_check_real(L, v, r, fn, key);
    return v;
}

int lt_overflow_error(lua_State *L, const char *fn, const char *what, const char *detail) {
    return lt_lua_error(L, "%s: %s overflows int64 (%s)", fn, what, detail);
}
