/* lua_warp.c: Lua binding for the warp/resample kernels of lunet.transforms (filled in by its owner). */
#include "lt_lua.h"

void lt_open_warp(lua_State *L) {
    (void)L;
}
