/* embed: a C host that embeds Lua 5.4 and lunet to segment one PNG/JPEG with a saved model.
 * It uses only the Lua C API and lunet's Lua API (lunet.predict, lunet.image).
 *
 *   make -C examples/embed                      # or: cc embed.c $(pkg-config --cflags --libs lua5.4)
 *   examples/embed/embed unet.safetensors photo.png mask.png [--tile 256 --overlap 32]
 *
 * The checkpoint is one that lunet.predict.load_model reads: metadata model = "unet" and
 * config = the option table (see examples/predict.lua), tensors as a plain state dict or
 * under "model." as lunet.train.fit writes them; an optional metadata normalize = "{mean =
 * {...}, std = {...}}" is applied to the image. The mask is written as a palette PNG of
 * class ids (VOC colours), the size of the input image.
 *
 * Finding lunet: when LUNET_ROOT is set in the environment (or defined at compile time, as
 * the Makefile here does with the source tree), ROOT/lua/?.lua, ROOT/lua/?/init.lua,
 * ROOT/build/lua/?.lua (the models) and ROOT/build/?.so (lunet.core) are put in front of
 * package.path/cpath; otherwise the usual LUA_PATH/LUA_CPATH and the installed locations
 * (make install, luarocks) are searched.
 *
 * Exit status: 0 on success, 1 when anything fails (message "embed: ..." on stderr: missing
 * or corrupt file, bad checkpoint, lunet not found), 2 for a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

static const char *usage =
    "usage: embed CHECKPOINT INPUT_IMAGE OUTPUT_MASK.png [--tile N] [--overlap N] [--threads N]\n";

struct job {
    const char *checkpoint, *input, *output;
    long tile, overlap, threads;   /* 0: not given */
};

/* Prepends "ROOT/<tail>;" for each tail of the ';'-separated list to package[field]. */
static void prepend_path(lua_State *L, const char *root, const char *field, const char *tails) {
    lua_getglobal(L, "package");                      /* package */
    int n = 0;
    const char *t = tails;
    while (*t) {
        const char *end = strchr(t, ';');
        int len = (int)(end ? (size_t)(end - t) : strlen(t));
        lua_pushstring(L, root);
        lua_pushliteral(L, "/");
        lua_pushlstring(L, t, (size_t)len);
        lua_pushliteral(L, ";");
        lua_concat(L, 4);
        n++;
        t += len + (end ? 1 : 0);
    }
    lua_getfield(L, -(n + 1), field);                 /* package, parts..., old */
    lua_concat(L, n + 1);
    lua_setfield(L, -2, field);
    lua_pop(L, 1);
}

/* require(name) -> pushes the module (raises on failure). */
static void require_module(lua_State *L, const char *name) {
    lua_getglobal(L, "require");
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
}

/* Calls t[name](args...) where t is at index `t` and the args are the top `nargs` values. */
static void call_field(lua_State *L, int t, const char *name, int nargs, int nres) {
    lua_getfield(L, t, name);
    lua_insert(L, -(nargs + 1));
    lua_call(L, nargs, nres);
}

/* The whole job, run under lua_pcall: a Lua error anywhere ends up in main's message. */
static int run(lua_State *L) {
    const struct job *j = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_getglobal(L, "require");                              /* 1: predict */
    lua_pushliteral(L, "lunet.predict");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        return luaL_error(L, "cannot load lunet (build it and set LUNET_ROOT to its source tree, "
                             "or install it): %s", lua_tostring(L, -1));
    }
    require_module(L, "lunet.image");                         /* 2: image */
    if (j->threads > 0) {
        require_module(L, "lunet");
        lua_pushinteger(L, j->threads);
        call_field(L, 3, "set_num_threads", 1, 0);
        lua_pop(L, 1);
    }

    lua_pushstring(L, j->checkpoint);
    call_field(L, 1, "load_model", 1, 2);                     /* 3: model (eval mode), 4: metadata */
    if (lua_getfield(L, 4, "normalize") == LUA_TSTRING) {     /* optional {mean = {..}, std = {..}} */
        call_field(L, 1, "decode_config", 1, 1);
    }
    lua_replace(L, 4);                                        /* 4: normalize table or nil */

    /* the image mode follows the model's input channels (model.config.in_channels) */
    const char *mode = "rgb";
    if (lua_getfield(L, 3, "config") == LUA_TTABLE) {
        lua_getfield(L, -1, "in_channels");
        lua_Integer c = lua_tointeger(L, -1);
        mode = c == 1 ? "gray" : c == 4 ? "rgba" : "rgb";
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_pushstring(L, j->input);
    lua_createtable(L, 0, 1);
    lua_pushstring(L, mode);
    lua_setfield(L, -2, "mode");
    call_field(L, 2, "load", 2, 1);                           /* 5: image, uint8 C x H x W */

    lua_pushvalue(L, 3);
    lua_pushvalue(L, 5);
    lua_createtable(L, 0, 4);                                 /* predict options */
    lua_pushstring(L, "labels");
    lua_setfield(L, -2, "output");
    lua_pushvalue(L, 4);
    lua_setfield(L, -2, "normalize");
    if (j->tile > 0) {
        lua_pushinteger(L, j->tile);
        lua_setfield(L, -2, "tile");
        if (j->overlap >= 0) {
            lua_pushinteger(L, j->overlap);
            lua_setfield(L, -2, "overlap");
        }
    }
    call_field(L, 1, "predict", 3, 1);                        /* 6: class ids, int32 H x W */

    lua_pushstring(L, j->output);
    lua_pushvalue(L, 6);
    lua_createtable(L, 0, 1);
    lua_pushstring(L, "voc");
    lua_setfield(L, -2, "palette");
    call_field(L, 2, "save", 3, 0);

    /* report: size and the largest class id, through tensor methods */
    lua_Integer hw[2];
    for (int d = 0; d < 2; d++) {
        lua_getfield(L, 6, "size");
        lua_pushvalue(L, 6);
        lua_pushinteger(L, d + 1);
        lua_call(L, 2, 1);
        hw[d] = lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    printf("%s: %lld x %lld mask written to %s\n", j->input, (long long)hw[0], (long long)hw[1],
           j->output);
    return 0;
}

static int parse_long(const char *s, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0') return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv) {
    struct job j = {NULL, NULL, NULL, 0, -1, 0};
    const char *pos[3];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long *slot = strcmp(a, "--tile") == 0      ? &j.tile
                     : strcmp(a, "--overlap") == 0 ? &j.overlap
                     : strcmp(a, "--threads") == 0 ? &j.threads
                                                    : NULL;
        if (slot) {
            if (i + 1 >= argc || !parse_long(argv[i + 1], slot) || *slot < 0) {
                fprintf(stderr, "embed: %s needs a non-negative integer\n%s", a, usage);
                return 2;
            }
            i++;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "embed: unknown option '%s'\n%s", a, usage);
            return 2;
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            fprintf(stderr, "embed: unexpected argument '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (npos != 3) {
        fprintf(stderr, "embed: expected CHECKPOINT INPUT_IMAGE OUTPUT_MASK, got %d argument%s\n%s",
                npos, npos == 1 ? "" : "s", usage);
        return 2;
    }
    j.checkpoint = pos[0];
    j.input = pos[1];
    j.output = pos[2];

    lua_State *L = luaL_newstate();
    if (!L) {
        fputs("embed: cannot create a Lua state (out of memory)\n", stderr);
        return 1;
    }
    luaL_openlibs(L);
    const char *root = getenv("LUNET_ROOT");
#ifdef LUNET_ROOT
    if (!root || !*root) root = LUNET_ROOT;
#endif
    if (root && *root) {
        prepend_path(L, root, "path", "lua/?.lua;lua/?/init.lua;build/lua/?.lua;build/lua/?/init.lua");
        prepend_path(L, root, "cpath", "build/?.so");
    }

    lua_pushcfunction(L, run);
    lua_pushlightuserdata(L, &j);
    int status = lua_pcall(L, 1, 0, 0);
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "embed: %s\n", msg ? msg : "error object is not a string");
    }
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
