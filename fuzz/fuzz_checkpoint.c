/* fuzz/fuzz_checkpoint.c: libFuzzer harness for checkpoint loading. It embeds Lua 5.4 with
 * lunet (the C core linked in, instrumented; the Lua side from the tree, LUNET_ROOT), writes
 * each input to a file and runs what train.fit's resume runs: lunet.train.checkpoint.load,
 * then restore into a fresh model, optimizer, scheduler and generator, then one training
 * step, and load_model, each under pcall. Lua errors are fine; crashes, leaks and sanitizer
 * reports are findings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "fuzz_common.h"

#ifndef LUNET_ROOT
#define LUNET_ROOT "."
#endif

int luaopen_lunet_core(lua_State *L);

static const char *const setup =
    "local root = ...\n"
    "package.path = root .. '/lua/?.lua;' .. root .. '/lua/?/init.lua;' .. package.path\n"
    "local lunet = require 'lunet'\n"
    "lunet.set_num_threads(1)\n"
    "local ckpt = require 'lunet.train.checkpoint'\n"
    "local nn = lunet.nn\n"
    "return function(path)\n"
    "  local ok, c = pcall(ckpt.load, path)\n"
    "  if ok then\n"
    "    local g = lunet.Generator(1)\n"
    "    local m = nn.Sequential(nn.Conv2d(1, 2, 3, {padding = 1}), nn.BatchNorm2d(2))\n"
    "    local opt = lunet.optim.Adam(m:parameters(), {lr = 1e-3})\n"
    "    local sched = lunet.optim.StepLR(opt, {step_size = 1})\n"
    "    if pcall(ckpt.restore, c, {model = m, optimizer = opt, scheduler = sched,\n"
    "                               generators = {default = g}}) then\n"
    "      pcall(function()\n"
    "        local x = g:randn(1, 1, 4, 4)\n"
    "        opt:zero_grad()\n"
    "        m(x):sum():backward()\n"
    "        opt:step()\n"
    "        sched:step()\n"
    "      end)\n"
    "    end\n"
    "  end\n"
    "  pcall(ckpt.load_model, nn.Sequential(nn.Conv2d(1, 2, 3)), path, {strict = false})\n"
    "end\n";

static lua_State *L;

static int traceback(lua_State *s) {
    luaL_traceback(s, s, lua_tostring(s, 1), 1);
    return 1;
}

static void init_lua(void) {
    L = luaL_newstate();
    if (!L) abort();
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_lunet_core);
    lua_setfield(L, -2, "lunet.core");
    lua_pop(L, 1);
    lua_pushcfunction(L, traceback);
    if (luaL_loadstring(L, setup) != LUA_OK) {
        fprintf(stderr, "fuzz_checkpoint: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_pushstring(L, LUNET_ROOT);
    if (lua_pcall(L, 1, 1, -3) != LUA_OK) {   /* a setup failure is the harness's, not a finding */
        fprintf(stderr, "fuzz_checkpoint: setup failed: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "lunet_fuzz_run");
    lua_pop(L, 1);
}

static void close_lua(void) {
    if (L) lua_close(L);
    L = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    init_lua();
    atexit(close_lua);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(data, size, ".safetensors");
    lua_pushcfunction(L, traceback);
    lua_getfield(L, LUA_REGISTRYINDEX, "lunet_fuzz_run");
    lua_pushstring(L, path);
    if (lua_pcall(L, 1, 0, -3) != LUA_OK) {
        /* every step runs under pcall inside: an error escaping means the harness broke */
        fprintf(stderr, "fuzz_checkpoint: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_pop(L, 1);
    lua_gc(L, LUA_GCCOLLECT);   /* finalizers run now, so a leak shows up with its input */
    return 0;
}
