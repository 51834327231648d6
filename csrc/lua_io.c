/* lua_io.c: Lua binding for the safetensors reader/writer (core.io.save, core.io.load).
 * lua/lunet/io.lua checks the user's arguments and sorts names; this layer owns the file
 * handle in a to-be-closed userdata so a raised error never leaks it. */
#include <string.h>

#include "lt_lua.h"
#include "lt_safetensors.h"

#define ST_FILE_MT "lunet.safetensors_file"

static int st_file_close(lua_State *L) {
    lt_st_file *f = luaL_checkudata(L, 1, ST_FILE_MT);
    lt_st_close(f);
    return 0;
}

/* load(path) -> {name = tensor}, {key = value} metadata, {names in file order} */
static int l_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lt_st_file *f = lua_newuserdatauv(L, sizeof *f, 0);
    memset(f, 0, sizeof *f);
    luaL_setmetatable(L, ST_FILE_MT);
    lua_toclose(L, -1);
    char err[LT_ST_ERRLEN + 4096];
    if (lt_st_open(f, path, err, sizeof err) != LT_OK) return lt_lua_error(L, "load: %s", err);
    lua_createtable(L, 0, (int)(f->n < 1000000 ? f->n : 0));   /* tensors */
    const int tt = lua_gettop(L);
    lua_createtable(L, 0, (int)(f->nmeta < 1000000 ? f->nmeta : 0));   /* metadata */
    const int mt = lua_gettop(L);
    lua_createtable(L, (int)(f->n < 1000000 ? f->n : 0), 0);   /* names */
    const int nt = lua_gettop(L);
    for (size_t i = 0; i < f->n; i++) {
        const lt_st_entry *e = &f->entries[i];
        lt_tensor *t = lt_lua_newtensor(L, e->dtype, e->ndim, e->shape, "load");
        if (lt_st_read(f, i, t, err, sizeof err) != LT_OK) return lt_lua_error(L, "load: '%s': %s", path, err);
        lua_setfield(L, tt, e->name);
        lua_pushstring(L, e->name);
        lua_rawseti(L, nt, (lua_Integer)i + 1);
    }
    for (size_t k = 0; k < f->nmeta; k++) {
        lua_pushstring(L, f->meta[2 * k + 1]);
        lua_setfield(L, mt, f->meta[2 * k]);
    }
    lt_st_close(f);
    lua_pushvalue(L, tt);
    lua_pushvalue(L, mt);
    lua_pushvalue(L, nt);
    return 3;
}

/* save(path, names, tensors, meta) with names/tensors arrays of equal length and meta an
 * array {k1, v1, k2, v2, ...} of strings. */
static int l_save(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checktype(L, 4, LUA_TTABLE);
    const lua_Integer n = luaL_len(L, 2), nm2 = luaL_len(L, 4);
    if (luaL_len(L, 3) != n) return lt_lua_error(L, "save: %I names but %I tensors", n, luaL_len(L, 3));
    if (nm2 % 2) return lt_lua_error(L, "save: metadata must be key/value pairs, got %I strings", nm2);
    if (path[0] == '\0') return lt_lua_error(L, "save: path is empty");
    if (n < 0 || nm2 < 0 || n > (lua_Integer)(1 << 30) || nm2 > (lua_Integer)(1 << 30))
        return lt_lua_error(L, "save: %I names and %I metadata strings are too many", n, nm2);
    const char **names = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    const lt_tensor **ts = lua_newuserdatauv(L, sizeof(lt_tensor *) * (size_t)(n + 1), 0);
    const char **meta = lua_newuserdatauv(L, sizeof(char *) * (size_t)(nm2 + 1), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        if (lua_type(L, -1) != LUA_TSTRING) return lt_lua_error(L, "save: name %I is not a string", i);
        names[i - 1] = lua_tostring(L, -1);   /* kept alive by the names table */
        if (strlen(names[i - 1]) != lua_rawlen(L, -1))
            return lt_lua_error(L, "save: tensor name %I holds a NUL byte (at byte %I): names with NUL cannot be stored",
                                i, (lua_Integer)strlen(names[i - 1]) + 1);
        lua_pop(L, 1);
        lua_geti(L, 3, i);
        ts[i - 1] = lt_lua_totensor(L, -1);
        if (!ts[i - 1]) return lt_lua_error(L, "save: '%s' is not a tensor", names[i - 1]);
        lua_pop(L, 1);
    }
    for (lua_Integer i = 1; i <= nm2; i++) {
        lua_geti(L, 4, i);
        if (lua_type(L, -1) != LUA_TSTRING) return lt_lua_error(L, "save: metadata entry %I is not a string", i);
        meta[i - 1] = lua_tostring(L, -1);
        if (strlen(meta[i - 1]) != lua_rawlen(L, -1))
            return lt_lua_error(L, "save: metadata %s %I holds a NUL byte (at byte %I): it cannot be stored",
                                i % 2 ? "key" : "value", (i + 1) / 2, (lua_Integer)strlen(meta[i - 1]) + 1);
        lua_pop(L, 1);
    }
    char err[LT_ST_ERRLEN + 4096];
    if (lt_st_write(path, names, ts, (size_t)n, meta, (size_t)nm2 / 2, err, sizeof err) != LT_OK)
        return lt_lua_error(L, "save: %s", err);
    return 0;
}

void lt_open_io(lua_State *L) {
    if (luaL_newmetatable(L, ST_FILE_MT)) {
        lua_pushcfunction(L, st_file_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, st_file_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        {"load", l_load},
        {"save", l_save},
        {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
}
