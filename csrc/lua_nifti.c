/* lua_nifti.c: Lua binding for NIfTI-1 volumes (table core.nifti): read(path, max_voxels) and
 * write(path, t, fields). The option handling, affine choice and messages naming the caller
 * live in lunet.image (load_nifti / save_nifti); runtime failures return nil, message. */
#include <string.h>

#include "lt_lua.h"
#include "lt_nifti.h"

#define ERRLEN 768

static void set_num(lua_State *L, const char *k, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}
static void set_int(lua_State *L, const char *k, lua_Integer v) {
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void push_mat(lua_State *L, double m[4][4]) {
    lua_createtable(L, 4, 0);
    for (int r = 0; r < 4; r++) {
        lua_createtable(L, 4, 0);
        for (int c = 0; c < 4; c++) {
            lua_pushnumber(L, m[r][c]);
            lua_rawseti(L, -2, c + 1);
        }
        lua_rawseti(L, -2, r + 1);
    }
}

static void push_list(lua_State *L, const double *v, int n) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* read(path, max_voxels|nil) -> tensor, fields | nil, message. The tensor is (nz, ny, nx) for
 * 1..3 dims, (nt, nz, ny, nx) for 4, (nu, nz, ny, nx) for 5 with nt = 1; the raw header
 * fields come in a table (dim, pixdim, datatype, scl_*, qform/sform matrices and codes, ...). */
static int l_read(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer maxv = luaL_optinteger(L, 2, -1);
    lt_nifti_header *h = (lt_nifti_header *)lua_newuserdatauv(L, sizeof(lt_nifti_header), 0);
    char err[ERRLEN];
    lt_status st = lt_nifti_read_header(h, path, (int64_t)maxv, err, sizeof err);
    if (st != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    int64_t size[4];
    int nd;
    if (h->ndim <= 3) {
        nd = 3;
        size[0] = h->dim[3]; size[1] = h->dim[2]; size[2] = h->dim[1];
    } else if (h->ndim == 4 || (h->ndim == 5 && h->dim[4] == 1)) {
        nd = 4;
        size[0] = h->ndim == 4 ? h->dim[4] : h->dim[5];
        size[1] = h->dim[3]; size[2] = h->dim[2]; size[3] = h->dim[1];
    } else {
        lua_pushnil(L);
        lua_pushfstring(L, "'%s' has %d dimensions [%I, %I, %I, %I, %I, ...]: only 1 to 4 (or 5 with "
                        "dim[4] = 1) are supported", path, h->ndim, (lua_Integer)h->dim[1],
                        (lua_Integer)h->dim[2], (lua_Integer)h->dim[3], (lua_Integer)h->dim[4],
                        (lua_Integer)h->dim[5]);
        return 2;
    }
    lt_dtype dt = lt_nifti_out_dtype(h);
    lt_tensor *t = lt_lua_newtensor_uninit(L, dt, nd, size, "image.load_nifti");
    st = lt_nifti_read_data(lt_data(t), dt, h, path, err, sizeof err);
    if (st == LT_ENOMEM) lt_lua_check(L, st, "image.load_nifti");
    if (st != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, st == LT_EOVERFLOW ? "the data size overflows" : err);
        return 2;
    }
    lua_createtable(L, 0, 24);
    double dim[8];
    for (int i = 0; i < 8; i++) dim[i] = (double)h->dim[i];
    push_list(L, dim + 1, h->ndim);
    lua_setfield(L, -2, "dim");
    push_list(L, h->pixdim, 8);
    lua_setfield(L, -2, "pixdim");
    lua_pushstring(L, lt_nifti_dtype_name(h->datatype));
    lua_setfield(L, -2, "dtype");
    set_int(L, "datatype", h->datatype);
    set_num(L, "scl_slope", h->scl_slope);
    set_num(L, "scl_inter", h->scl_inter);
    lua_pushboolean(L, h->scaled);
    lua_setfield(L, -2, "scaled");
    set_num(L, "cal_min", h->cal_min);
    set_num(L, "cal_max", h->cal_max);
    set_int(L, "qform_code", h->qform_code);
    set_int(L, "sform_code", h->sform_code);
    push_mat(L, h->qform);
    lua_setfield(L, -2, "qform");
    push_mat(L, h->sform);
    lua_setfield(L, -2, "sform");
    push_list(L, h->quatern, 3);
    lua_setfield(L, -2, "quatern");
    push_list(L, h->qoffset, 3);
    lua_setfield(L, -2, "qoffset");
    set_num(L, "qfac", h->qfac);
    set_int(L, "xyz_units", h->xyz_units);
    set_int(L, "time_units", h->time_units);
    set_int(L, "intent_code", h->intent_code);
    set_num(L, "toffset", h->toffset);
    lua_pushstring(L, h->descrip);
    lua_setfield(L, -2, "descrip");
    lua_pushstring(L, h->intent_name);
    lua_setfield(L, -2, "intent_name");
    set_int(L, "vox_offset", h->vox_offset);
    lua_pushboolean(L, h->gzip);
    lua_setfield(L, -2, "gzip");
    lua_pushboolean(L, h->swapped);
    lua_setfield(L, -2, "swapped");
    return 2;
}

static double field_num(lua_State *L, int idx, const char *k, double def) {
    lua_getfield(L, idx, k);
    double v = lua_isnil(L, -1) ? def : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

static void field_mat(lua_State *L, int idx, const char *k, double m[4][4]) {
    lua_getfield(L, idx, k);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) m[r][c] = r == c ? 1.0 : 0.0;
    if (lua_istable(L, -1)) {
        for (int r = 0; r < 4; r++) {
            lua_rawgeti(L, -1, r + 1);
            for (int c = 0; c < 4 && lua_istable(L, -1); c++) {
                lua_rawgeti(L, -1, c + 1);
                m[r][c] = luaL_checknumber(L, -1);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

/* write(path, t, fields) -> true | nil, message. t: contiguous, 3-D (D, H, W) or 4-D
 * (C, D, H, W) (or 1-/2-D); fields (checked by the Lua side): datatype (name), pixdim (8
 * numbers), qform/sform (4 x 4), qform_code, sform_code, scl_slope/scl_inter (nil: unscaled),
 * xyz_units, time_units, descrip, gzip. */
static int l_write(lua_State *L) {
    const char *fn = "image.save_nifti";
    const char *path = luaL_checkstring(L, 1);
    int pushed;
    lt_tensor *t = lt_lua_contiguous(L, 2, fn, "t", &pushed);
    luaL_checktype(L, 3, LUA_TTABLE);
    lt_nifti_header *h = (lt_nifti_header *)lua_newuserdatauv(L, sizeof(lt_nifti_header), 0);
    memset(h, 0, sizeof *h);
    if (t->ndim < 1 || t->ndim > 4) {
        char b[128];
        return lt_lua_error(L, "%s: t must be D x H x W or C x D x H x W, got %s", fn,
                            lt_shape_str(t, b, sizeof b));
    }
    h->ndim = t->ndim;
    h->nvox = lt_numel(t);
    for (int i = 0; i < 8; i++) h->dim[i] = 1;
    for (int i = 0; i < t->ndim; i++) h->dim[i + 1] = t->size[t->ndim - 1 - i];
    lua_getfield(L, 3, "datatype");
    const char *dn = luaL_checkstring(L, -1);
    h->datatype = lt_nifti_dtype_code(dn);
    lua_pop(L, 1);
    if (!h->datatype) return lt_lua_error(L, "%s: unsupported dtype \"%s\"", fn, dn);
    lua_getfield(L, 3, "pixdim");
    for (int i = 0; i < 8; i++) {
        h->pixdim[i] = 1.0;
        if (lua_istable(L, -1)) {
            lua_rawgeti(L, -1, i + 1);
            if (!lua_isnil(L, -1)) h->pixdim[i] = luaL_checknumber(L, -1);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    field_mat(L, 3, "qform", h->qform);
    field_mat(L, 3, "sform", h->sform);
    h->qform_code = (int)field_num(L, 3, "qform_code", 0);
    h->sform_code = (int)field_num(L, 3, "sform_code", 0);
    lua_getfield(L, 3, "scl_slope");
    h->scaled = !lua_isnil(L, -1);
    lua_pop(L, 1);
    h->scl_slope = field_num(L, 3, "scl_slope", 1);
    h->scl_inter = field_num(L, 3, "scl_inter", 0);
    h->cal_min = field_num(L, 3, "cal_min", 0);
    h->cal_max = field_num(L, 3, "cal_max", 0);
    h->xyz_units = (int)field_num(L, 3, "xyz_units", 0);
    h->time_units = (int)field_num(L, 3, "time_units", 0);
    h->intent_code = (int)field_num(L, 3, "intent_code", 0);
    h->toffset = field_num(L, 3, "toffset", 0);
    lua_getfield(L, 3, "descrip");
    const char *d = lua_tostring(L, -1);
    if (d) strncpy(h->descrip, d, 79);
    lua_pop(L, 1);
    lua_getfield(L, 3, "gzip");
    h->gzip = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lt_data(t) == NULL) return lt_lua_error(L, "%s: t was freed", fn);
    char err[ERRLEN];
    lt_status st = lt_nifti_write(lt_lua_ctx(L), path, lt_data(t), t->dtype, h, err, sizeof err);
    if (st == LT_ERANGE) {
        const lt_range_error *r = lt_last_range_error(lt_lua_ctx(L));
        char v[64];
        return lt_lua_error(L, "%s: value %s at flat index %I does not fit dtype %s%s", fn,
                            lt_numstr(v, sizeof v, r->value), (lua_Integer)r->pos[0], dn,
                            h->scaled ? " after removing scl_slope/scl_inter" : "");
    }
    if (st == LT_ENOMEM || st == LT_EOVERFLOW) lt_lua_check(L, st, fn);
    if (st != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

void lt_open_nifti(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"read", l_read},
        {"write", l_write},
        {NULL, NULL}
    };
    luaL_setfuncs(L, fns, 0);
}
