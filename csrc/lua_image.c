/* lua_image.c: Lua binding for the image kernels (filled in by its owner). */
#include "lt_lua.h"

void lt_open_image(lua_State *L) {
    (void)L;
}
