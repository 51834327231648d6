/* lt_lua.h: helpers shared by the Lua binding files (the only files that include lua.h).
 * Tensor userdata, argument checking with precise messages, option tables, and the
 * registration entry points that lua_core.c calls from luaopen_lunet_core.
 *
 *   static int l_relu(lua_State *L) {
 *       lt_tensor *x = lt_lua_checktensor(L, 1, "relu", "x");
 *       lt_tensor *y = lt_lua_newlike(L, x, "relu");     // pushed, owned by Lua
 *       lt_lua_check(L, lt_unary(lt_lua_ctx(L), y, x, LT_OP_RELU), "relu");
 *       return 1;
 *   }
 */
#ifndef LT_LUA_H
#define LT_LUA_H

#include <lua.h>
#include <lauxlib.h>
#include "lt_core.h"

#define LT_TENSOR_MT "lunet.Tensor"
#define LT_GENERATOR_MT "lunet.Generator"

/* The core context of this Lua state (lt_context.h): luaopen_lunet_core creates one per state
 * (requiring lunet.core again reuses it) and the state holds a reference until it closes.
 * Every kernel that takes a context gets it here (a registry lookup). Raises if the state's
 * context was already released (only possible from finalizers running during lua_close). */
lt_context *lt_lua_ctx(lua_State *L);

/* Tensor userdata: the lt_tensor lives inside the userdata; storage comes from the state's
 * context (lt_lua_ctx) and its size is reported to the collector. One user value holds a Lua table of attributes
 * (grad, autograd node, requires_grad flag), created on first write. */
lt_tensor *lt_lua_totensor(lua_State *L, int idx);                 /* NULL if not a tensor */
lt_tensor *lt_lua_checktensor(lua_State *L, int idx, const char *fn, const char *arg);
/* Like checktensor, and also requires the dtype. */
lt_tensor *lt_lua_checkdtype(lua_State *L, int idx, const char *fn, const char *arg,
                             lt_dtype dt);
/* Pushes a new zeroed contiguous tensor; raises "fn: cannot allocate ..." on failure. */
lt_tensor *lt_lua_newtensor(lua_State *L, lt_dtype dt, int ndim, const int64_t *size,
                            const char *fn);
lt_tensor *lt_lua_newlike(lua_State *L, const lt_tensor *t, const char *fn);
/* The same without zero-filling, for outputs the kernel overwrites completely. */
lt_tensor *lt_lua_newtensor_uninit(lua_State *L, lt_dtype dt, int ndim, const int64_t *size,
                                   const char *fn);
/* Pushes a new userdata viewing src's storage (same geometry); edit the geometry after. */
lt_tensor *lt_lua_newview(lua_State *L, const lt_tensor *src);
/* Returns a contiguous version of the tensor at idx: itself if already contiguous (nothing
 * pushed: *pushed = 0), else a pushed copy (*pushed = 1). Raises on a freed tensor. */
lt_tensor *lt_lua_contiguous(lua_State *L, int idx, const char *fn, const char *arg,
                             int *pushed);
/* Raises an error like luaL_error (same % formats: %s %d %I %f %p %c %%) but without the
 * "file:line:" prefix, which would point into lunet's own Lua wrappers. */
int lt_lua_error(lua_State *L, const char *fmt, ...);
/* Raises "fn: <status text>" when st != LT_OK. */
void lt_lua_check(lua_State *L, lt_status st, const char *fn);
/* Formats a shape as "[2, 3, 4]" into buf. */
const char *lt_shape_str(const lt_tensor *t, char *buf, size_t n);
/* Reads a shape from args idx..top (numbers) or one table at idx. Raises on negative sizes. */
int lt_lua_checkshape(lua_State *L, int idx, int64_t *size, const char *fn);
/* Normalises a 1-based (or negative) Lua dimension for an ndim-tensor to 0-based. */
int lt_lua_checkdim(lua_State *L, int argidx, int ndim, const char *fn);
lt_dtype lt_lua_checkdtypename(lua_State *L, int idx, const char *fn);

/* Option tables (lua_opts.c): opts at idx may be nil/none. A binding that takes options
 * first names every key it knows; an unknown key raises
 * "fn: unknown option 'paddin' (did you mean 'padding'?)":
 *     static const char *const conv_opts[] = {"stride", "padding", "dilation", "groups", NULL};
 *     lt_opt_check(L, 4, "conv2d", conv_opts);
 * The readers then fetch single keys; a missing key gives the default. The _range readers
 * also reject values outside [lo, hi] (NaN included) with the value in the message. */
void lt_opt_check(lua_State *L, int idx, const char *fn, const char *const *known);
/* Pushes opts[key] and returns 1 if present and non-nil, else pushes nothing and returns 0. */
int lt_opt_get(lua_State *L, int idx, const char *key, const char *fn);
lua_Integer lt_opt_int(lua_State *L, int idx, const char *key, lua_Integer def, const char *fn);
lua_Number lt_opt_num(lua_State *L, int idx, const char *key, lua_Number def, const char *fn);
lua_Integer lt_opt_int_range(lua_State *L, int idx, const char *key, lua_Integer def, lua_Integer lo,
                             lua_Integer hi, const char *fn);
lua_Number lt_opt_num_range(lua_State *L, int idx, const char *key, lua_Number def, lua_Number lo,
                            lua_Number hi, const char *fn);
int lt_opt_bool(lua_State *L, int idx, const char *key, int def, const char *fn);
/* A number or a {a, b} pair (e.g. kernel = 3 or {3, 5}). */
void lt_opt_pair(lua_State *L, int idx, const char *key, lua_Integer def, lua_Integer out[2],
                 const char *fn);
/* Real-valued options and numbers in messages (the readers above take [lo, hi]; these
 * name the usual ranges):
 *     double m = lt_opt_real(L, 6, "momentum", 0.1, LT_REAL_UNIT, "batch_norm");
 *     // momentum = 5 raises "batch_norm: momentum must be in [0, 1], got 5" */
/* The accepted range of a real value; NaN is outside every range. */
typedef enum {
    LT_REAL_FINITE,     /* any finite number */
    LT_REAL_UNIT,       /* [0, 1] */
    LT_REAL_POSITIVE,   /* finite and > 0 */
    LT_REAL_NONNEG      /* finite and >= 0 */
} lt_real_range;

/* v as a message prints it (as lunet.errors' show): "5", "0.25", "1e+300", "nan", "-inf". */
const char *lt_numstr(char *buf, size_t n, double v);
/* 1 when v is inside r. */
int lt_in_range(double v, lt_real_range r);
/* Raises "fn: what must be <range>, got v" unless v is inside r. */
void lt_check_real(lua_State *L, double v, lt_real_range r, const char *fn, const char *what);
/* opts[key] (a number; def when absent), checked against r with the key as `what`. */
double lt_opt_real(lua_State *L, int idx, const char *key, double def, lt_real_range r,
                      const char *fn);
/* Raises "fn: <what> overflows int64 (<detail>)"; for size formulas that would wrap. */
int lt_overflow_error(lua_State *L, const char *fn, const char *what, const char *detail);

/* The known name closest to key (a likely typo), or NULL. */
const char *lt_opt_suggest(const char *key, const char *const *known, int n);

/* The default generator (lunet.manual_seed) or the one in opts.generator. */
lt_rng *lt_lua_default_rng(lua_State *L);
lt_rng *lt_lua_optrng(lua_State *L, int optidx, const char *fn);

/* Registration: each adds functions to the table at the top of the stack. */
void lt_open_tensor(lua_State *L);     /* lua_tensor.c: tensor type, creation, math */
void lt_open_opts(lua_State *L);       /* lua_opts.c: check_options */
void lt_open_random(lua_State *L);     /* lua_random.c: generators */
/* Kernels for lunet.nn.functional: each adds raw (non-autograd) functions to the table
 * core.nn at the top of the stack. */
void lt_open_nn_conv(lua_State *L);    /* lua_conv.c: conv2d, conv_transpose2d */
void lt_open_nn_pool(lua_State *L);    /* lua_pool.c: pooling, unpooling, interpolate, pad */
void lt_open_nn_norm(lua_State *L);    /* lua_norm.c: batch/group norm, softmax, activations, dropout */
void lt_open_nn_loss(lua_State *L);    /* lua_loss.c: loss kernels */
void lt_open_nn_optim(lua_State *L);   /* lua_optim.c: adam_step (fused Adam / AdamW) */
void lt_open_nn_vol(lua_State *L);     /* lua_vol.c: 3-D conv, pooling, interpolation */
void lt_open_image(lua_State *L);      /* lua_image.c: PNG/JPEG I/O (table image) */
void lt_open_metrics(lua_State *L);    /* lua_metrics.c: metric kernels (table metrics) */
void lt_open_io(lua_State *L);         /* lua_io.c: safetensors (table io) */
void lt_open_warp(lua_State *L);       /* lua_warp.c: image warps for transforms (table warp) */
void lt_open_workers(lua_State *L);    /* lua_workers.c: DataLoader worker processes (table workers) */
void lt_open_nifti(lua_State *L);      /* lua_nifti.c: NIfTI-1 volumes (table nifti) */
void lt_open_vol(lua_State *L);        /* lua_vol_warp.c: 3-D resampling for transforms (table vol) */
void lt_open_classic(lua_State *L);    /* lua_classic.c: classical segmentation (table classic) */
void lt_open_classic_seg(lua_State *L); /* lua_classic_seg.c: slic, felzenszwalb, dense_crf (table classic_seg) */

#endif
