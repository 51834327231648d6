/* lua_io.c: Lua binding for the io kernels (filled in by its owner). */
#include "lt_lua.h"

void lt_open_io(lua_State *L) {
    (void)L;
}
