/* lua_metrics.c: Lua binding for the metrics kernels (filled in by its owner). */
#include "lt_lua.h"

void lt_open_metrics(lua_State *L) {
    (void)L;
}
