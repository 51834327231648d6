/* lua_image.c: Lua binding for image I/O and the dataset helpers (table core.image):
 * reading regular files, decode/encode on Lua strings, overlay, compositing, textures, IDX
 * files, directory listing. Runtime failures of reading and decoding (missing file, bad
 * contents) return nil, message so that the Lua side can name the file; misuse raises. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lt_lua.h"
#include "lt_file.h"
#include "lt_image.h"
#include "lt_idx.h"

#define ERRLEN 512

static lt_image_mode check_mode(lua_State *L, int idx, const char *fn) {
    static const char *const names[] = {"rgb", "gray", "rgba", "index", "unchanged", NULL};
    const char *s = luaL_optstring(L, idx, "rgb");
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) return (lt_image_mode)i;
    lt_lua_error(L, "%s: mode must be \"rgb\", \"gray\", \"rgba\", \"index\" or \"unchanged\", got \"%s\"",
               fn, s);
    return LT_IMG_MODE_RGB;
}

static void push_info(lua_State *L, const lt_image_info *info) {
    lua_createtable(L, 0, 8);
    lua_pushstring(L, info->format == LT_IMG_PNG ? "png" : "jpeg");
    lua_setfield(L, -2, "format");
    lua_pushinteger(L, info->width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, info->height);
    lua_setfield(L, -2, "height");
    lua_pushinteger(L, info->bit_depth);
    lua_setfield(L, -2, "bit_depth");
    lua_pushstring(L, lt_image_color_name(info->color));
    lua_setfield(L, -2, "color");
    lua_pushinteger(L, info->palette_size);
    lua_setfield(L, -2, "palette_size");
    lua_pushboolean(L, info->has_trns);
    lua_setfield(L, -2, "transparency");
    lua_pushboolean(L, info->interlaced);
    lua_setfield(L, -2, "interlaced");
}

/* A file descriptor in a to-be-closed userdata: a raised error (out of memory while the
 * contents are read) closes it. */
typedef struct { int fd; } fd_box;

static int fd_box_close(lua_State *L) {
    fd_box *b = (fd_box *)lua_touserdata(L, 1);
    if (b && b->fd >= 0) { close(b->fd); b->fd = -1; }
    return 0;
}

/* read_file(path) -> contents | nil, msg. Refuses anything but a regular file (a FIFO or a
 * device would block or never end), without opening it for reading. */
static int l_read_file(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    fd_box *box = (fd_box *)lua_newuserdatauv(L, sizeof(fd_box), 0);
    box->fd = -1;
    if (luaL_newmetatable(L, "lunet.image.fd_box")) {
        lua_pushcfunction(L, fd_box_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, fd_box_close);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    lua_toclose(L, -1);
    char err[ERRLEN];
    int64_t size;
    box->fd = lt_file_open(path, &size, err, sizeof err);
    if (box->fd < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    if ((uint64_t)size > (uint64_t)(SIZE_MAX / 2))
        return lt_lua_error(L, "image: '%s' is too large to read (%I bytes)", path, (lua_Integer)size);
    luaL_Buffer b;
    char *dst = luaL_buffinitsize(L, &b, (size_t)size);
    size_t got = 0;
    if (lt_file_read(box->fd, dst, (size_t)size, &got, path, err, sizeof err) != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    luaL_pushresultsize(&b, got);
    return 1;
}

/* info(bytes) -> {format, width, height, bit_depth, color, palette_size, ...} | nil, msg */
static int l_info(lua_State *L) {
    size_t len;
    const char *buf = luaL_checklstring(L, 1, &len);
    lt_image_info *info = (lt_image_info *)lua_newuserdatauv(L, sizeof(lt_image_info), 0);
    char err[ERRLEN];
    if (lt_image_read_info(info, (const uint8_t *)buf, len, err, sizeof err) != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    push_info(L, info);
    return 1;
}

/* decode(bytes, mode, max_pixels) -> tensor (C, H, W) uint8 | int32 for 16-bit PNG; index:
 * (H, W). max_pixels: nil or negative for no limit. Returns nil, msg when the bytes are not
 * a decodable image, and nil, msg, "max_pixels" when the header claims more pixels than
 * max_pixels (checked before anything is allocated). */
static int l_decode(lua_State *L) {
    size_t len;
    const char *buf = luaL_checklstring(L, 1, &len);
    lt_image_mode mode = check_mode(L, 2, "image.decode");
    lua_Integer max_pixels = luaL_optinteger(L, 3, LT_IMAGE_MAX_PIXELS);
    lt_image_info *info = (lt_image_info *)lua_newuserdatauv(L, sizeof(lt_image_info), 0);
    char err[ERRLEN];
    if (lt_image_read_info(info, (const uint8_t *)buf, len, err, sizeof err) != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    if (lt_image_check_size(info, (int64_t)max_pixels, err, sizeof err) != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        lua_pushliteral(L, "max_pixels");
        return 3;
    }
    int c = lt_image_mode_channels(info, mode, err, sizeof err);
    if (c == 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    int64_t size[3] = {c, info->height, info->width};
    lt_dtype dt = lt_image_mode_wide(info) ? LT_INT32 : LT_UINT8;
    lt_tensor *t = mode == LT_IMG_MODE_INDEX ? lt_lua_newtensor(L, dt, 2, size + 1, "image.decode")
                                            : lt_lua_newtensor(L, dt, 3, size, "image.decode");
    lt_status st = lt_image_decode(lt_data(t), mode, info, (const uint8_t *)buf, len, err,
                                   sizeof err);
    if (st != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* Checks an optional palette (uint8 K x 3, K 1..256) at idx; returns a contiguous pointer
 * (may push a copy) and its size. */
static const uint8_t *check_palette(lua_State *L, int idx, const char *fn, int *n) {
    lt_tensor *p = lt_lua_checkdtype(L, idx, fn, "palette", LT_UINT8);
    char b[256];
    if (p->ndim != 2 || p->size[1] != 3 || p->size[0] < 1 || p->size[0] > 256)
        lt_lua_error(L, "%s: palette must be uint8 K x 3 with 1 <= K <= 256, got %s", fn,
                   lt_shape_str(p, b, sizeof b));
    int pushed;
    lt_tensor *pc = lt_lua_contiguous(L, idx, fn, "palette", &pushed);
    *n = (int)p->size[0];
    return lt_u8(pc);
}

/* Checks the image tensor of an encoder: (C, H, W) or (H, W), not empty, not float32, sides
 * below 2^31; returns C, H, W. */
static lt_tensor *check_image(lua_State *L, const char *fn, int *c, int *h, int *w) {
    lt_tensor *t = lt_lua_checktensor(L, 1, fn, "t");
    char b[256];
    if (t->ndim != 2 && t->ndim != 3)
        lt_lua_error(L, "%s: t must be C x H x W or H x W, got %s", fn, lt_shape_str(t, b, sizeof b));
    int64_t c64 = t->ndim == 3 ? t->size[0] : 1;
    int64_t h64 = t->size[t->ndim - 2], w64 = t->size[t->ndim - 1];
    if (h64 < 1 || w64 < 1 || c64 < 1)
        lt_lua_error(L, "%s: cannot save an empty image %s", fn, lt_shape_str(t, b, sizeof b));
    if (h64 > 0x7fffffff || w64 > 0x7fffffff)
        lt_lua_error(L, "%s: image sides must be below 2^31, got %s", fn, lt_shape_str(t, b, sizeof b));
    if (t->dtype == LT_FLOAT32)
        lt_lua_error(L, "%s: t is float32; convert with image.from_float(t) (values in [0, 1]) or t:to(\"uint8\")",
                     fn);
    *c = c64 > 8 ? 8 : (int)c64;
    *h = (int)h64;
    *w = (int)w64;
    return t;
}

/* encode_png(t, palette|nil, fn) -> string. t: (C, H, W) with C 1..4 or (H, W); uint8, or
 * int32 0..65535 for a 16-bit PNG; with a palette t holds indices (H, W) or (1, H, W). */
static int l_encode_png(lua_State *L) {
    const char *fn = luaL_optstring(L, 3, "image.save");
    int c, h, w;
    lt_tensor *t = check_image(L, fn, &c, &h, &w);
    char b[256];
    int has_pal = !lua_isnoneornil(L, 2);
    if (c < 1 || c > 4)
        return lt_lua_error(L, "%s: t must have 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels, got %s",
                          fn, lt_shape_str(t, b, sizeof b));
    int bits16 = t->dtype == LT_INT32;
    int npal = 0;
    const uint8_t *pal = NULL;
    if (has_pal) {
        pal = check_palette(L, 2, fn, &npal);
        if (c != 1)
            return lt_lua_error(L, "%s: a palette image must be H x W (class ids), got %s", fn,
                              lt_shape_str(t, b, sizeof b));
    }
    int pushed;
    lt_tensor *tc = lt_lua_contiguous(L, 1, fn, "t", &pushed);
    int64_t n = lt_numel(tc);
    if (bits16 || has_pal) {
        int64_t hi = has_pal ? npal - 1 : 65535;
        for (int64_t i = 0; i < n; i++) {
            int64_t v = bits16 ? lt_i32(tc)[i] : lt_u8(tc)[i];
            if (v < 0 || v > hi) {
                if (has_pal)
                    return lt_lua_error(L, "%s: value %I is outside the palette (%d colours)", fn,
                                      (lua_Integer)v, npal);
                return lt_lua_error(L, "%s: int32 image value %I is outside 0..65535 (16-bit PNG)",
                                  fn, (lua_Integer)v);
            }
        }
    }
    /* 8-bit palette PNG from int32 ids: narrow into a Lua-owned uint8 tensor */
    const void *pix = bits16 ? (const void *)lt_i32(tc) : (const void *)lt_u8(tc);
    if (has_pal && bits16) {
        int64_t sz[2] = {h, w};
        lt_tensor *u = lt_lua_newtensor(L, LT_UINT8, 2, sz, fn);
        for (int64_t i = 0; i < n; i++) lt_u8(u)[i] = (uint8_t)lt_i32(tc)[i];
        pix = lt_u8(u);
        bits16 = 0;
    }
    size_t cap = lt_png_encode_bound(c, h, w, bits16, npal);
    uint8_t *dst = (uint8_t *)lua_newuserdatauv(L, cap, 0);
    size_t outlen = 0;
    char err[ERRLEN];
    if (lt_png_encode(dst, cap, &outlen, pix, c, h, w, bits16, pal, npal, err, sizeof err) != LT_OK)
        return lt_lua_error(L, "%s: PNG encoding failed: %s", fn, err);
    lua_pushlstring(L, (const char *)dst, outlen);
    return 1;
}

/* Frees the buffer of an lt_bytes box (after a raised error too). */
static int bytes_box_gc(lua_State *L) {
    lt_bytes *b = (lt_bytes *)lua_touserdata(L, 1);
    if (b) { free(b->data); b->data = NULL; b->len = b->cap = 0; }
    return 0;
}

/* encode_jpeg(t, quality, fn, progressive) -> string. t: uint8 (1, H, W), (3, H, W) or (H, W). */
static int l_encode_jpeg(lua_State *L) {
    const char *fn = luaL_optstring(L, 3, "image.save");
    int c, h, w;
    lt_tensor *t = check_image(L, fn, &c, &h, &w);
    lua_Integer quality = luaL_checkinteger(L, 2);
    int progressive = lua_toboolean(L, 4);
    char b[256];
    if (t->dtype != LT_UINT8)
        return lt_lua_error(L, "%s: JPEG holds 8-bit samples, t is %s (convert with t:to(\"uint8\"), or save a 16-bit image as .png)",
                            fn, lt_dtype_name(t->dtype));
    if (c != 1 && c != 3)
        return lt_lua_error(L, "%s: JPEG holds 1 (gray) or 3 (RGB) channels, got %s (JPEG has no alpha: save as .png, or keep RGB with t:narrow(1, 1, 3))",
                            fn, lt_shape_str(t, b, sizeof b));
    if (h > LT_JPEG_MAX_SIDE || w > LT_JPEG_MAX_SIDE)
        return lt_lua_error(L, "%s: JPEG allows at most %d pixels per side, got %s", fn,
                            LT_JPEG_MAX_SIDE, lt_shape_str(t, b, sizeof b));
    if (quality < 1 || quality > 100)
        return lt_lua_error(L, "%s: quality must be an integer in [1, 100], got %I", fn, quality);
    int pushed;
    lt_tensor *tc = lt_lua_contiguous(L, 1, fn, "t", &pushed);
    lt_bytes *out = (lt_bytes *)lua_newuserdatauv(L, sizeof(lt_bytes), 0);
    out->data = NULL;
    out->len = out->cap = 0;
    if (luaL_newmetatable(L, "lunet.image.bytes_box")) {
        lua_pushcfunction(L, bytes_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    char err[ERRLEN];
    lt_status st = lt_jpeg_encode(out, lt_u8(tc), c, h, w, (int)quality, progressive, err,
                                  sizeof err);
    if (st != LT_OK) return lt_lua_error(L, "%s: JPEG encoding failed: %s", fn, err);
    lua_pushlstring(L, (const char *)out->data, out->len);
    free(out->data);           /* at once: the string holds the bytes */
    out->data = NULL;
    out->len = out->cap = 0;
    return 1;
}

/* overlay(img, mask, palette, alpha, background) -> uint8 (3, H, W) */
static int l_overlay(lua_State *L) {
    const char *fn = "image.overlay";
    lt_tensor *img = lt_lua_checkdtype(L, 1, fn, "img", LT_UINT8);
    lt_tensor *mask = lt_lua_checktensor(L, 2, fn, "mask");
    int npal;
    const uint8_t *pal = check_palette(L, 3, fn, &npal);
    lua_Number alpha = luaL_checknumber(L, 4);
    lua_Integer bg = luaL_optinteger(L, 5, -1);
    char b1[256], b2[256];
    if (img->ndim != 3 || (img->size[0] != 1 && img->size[0] != 3))
        return lt_lua_error(L, "%s: img must be 3 x H x W or 1 x H x W uint8, got %s", fn,
                          lt_shape_str(img, b1, sizeof b1));
    if (mask->ndim != 2 || mask->size[0] != img->size[1] || mask->size[1] != img->size[2])
        return lt_lua_error(L, "%s: mask must be H x W matching img, got img %s, mask %s", fn,
                          lt_shape_str(img, b1, sizeof b1), lt_shape_str(mask, b2, sizeof b2));
    if (mask->dtype == LT_FLOAT32)
        return lt_lua_error(L, "%s: mask must hold class ids (int32 or uint8), got float32", fn);
    if (!(alpha >= 0.0 && alpha <= 1.0))
        return lt_lua_error(L, "%s: alpha must be in [0, 1], got %f", fn, (double)alpha);
    int h = (int)img->size[1], w = (int)img->size[2];
    int pushed;
    lt_tensor *ic = lt_lua_contiguous(L, 1, fn, "img", &pushed);
    int64_t msz[2] = {h, w};
    lt_tensor *mi = lt_lua_newtensor(L, LT_INT32, 2, msz, fn);
    lt_lua_check(L, lt_copy(lt_lua_ctx(L), mi, mask), fn);
    int64_t osz[3] = {3, h, w};
    lt_tensor *out = lt_lua_newtensor(L, LT_UINT8, 3, osz, fn);
    lt_status st = lt_image_overlay(lt_u8(out), lt_u8(ic), (int)img->size[0], lt_i32(mi), h, w,
                                    pal, npal, (float)alpha, (int)bg);
    if (st == LT_EINDEX) {
        int32_t bad = 0;
        for (int64_t i = 0; i < (int64_t)h * w; i++)
            if (lt_i32(mi)[i] < 0 || lt_i32(mi)[i] >= npal) { bad = lt_i32(mi)[i]; break; }
        return lt_lua_error(L, "%s: mask value %I is outside the palette (%d colours)", fn,
                          (lua_Integer)bad, npal);
    }
    lt_lua_check(L, st, fn);
    return 1;
}

/* composite(img, mask, rgba, y0, x0, dh, dw, label): in place; img (3, H, W) uint8
 * contiguous, mask (H, W) int32 contiguous, rgba (4, h, w) uint8. 0-based positions. */
static int l_composite(lua_State *L) {
    const char *fn = "image.composite";
    lt_tensor *img = lt_lua_checkdtype(L, 1, fn, "img", LT_UINT8);
    lt_tensor *mask = lt_lua_checkdtype(L, 2, fn, "mask", LT_INT32);
    lt_tensor *rgba = lt_lua_checkdtype(L, 3, fn, "rgba", LT_UINT8);
    lua_Integer y0 = luaL_checkinteger(L, 4), x0 = luaL_checkinteger(L, 5);
    lua_Integer dh = luaL_checkinteger(L, 6), dw = luaL_checkinteger(L, 7);
    lua_Integer label = luaL_optinteger(L, 8, 1);
    if (img->ndim != 3 || img->size[0] != 3 || !lt_is_contiguous(img) || mask->ndim != 2 ||
        !lt_is_contiguous(mask) || mask->size[0] != img->size[1] ||
        mask->size[1] != img->size[2] || rgba->ndim != 3 || rgba->size[0] != 4)
        return lt_lua_error(L, "%s: expects contiguous img 3 x H x W, mask H x W, rgba 4 x h x w", fn);
    if (dh < 1 || dw < 1 || dh > 1 << 20 || dw > 1 << 20 || y0 < -(1 << 20) || y0 > 1 << 20 ||
        x0 < -(1 << 20) || x0 > 1 << 20)
        return lt_lua_error(L, "%s: bad placement (y0 %I, x0 %I, size %I x %I; sizes 1..2^20, "
                            "positions within +-2^20)", fn, y0, x0, dh, dw);
    int pushed;
    lt_tensor *rc = lt_lua_contiguous(L, 3, fn, "rgba", &pushed);
    lt_image_composite(lt_u8(img), lt_i32(mask), (int)img->size[1], (int)img->size[2],
                       lt_u8(rc), (int)rgba->size[1], (int)rgba->size[2], (int)y0, (int)x0,
                       (int)dh, (int)dw, (int32_t)label);
    return 0;
}

/* texture(img, kind, opts) fills a contiguous uint8 (3, H, W) in place; opts.generator. */
static int l_texture(lua_State *L) {
    const char *fn = "image.texture";
    lt_tensor *img = lt_lua_checkdtype(L, 1, fn, "img", LT_UINT8);
    lua_Integer kind = luaL_checkinteger(L, 2);
    static const char *const known[] = {"generator", NULL};
    lt_opt_check(L, 3, fn, known);
    char b[256];
    if (img->ndim != 3 || img->size[0] != 3 || !lt_is_contiguous(img))
        return lt_lua_error(L, "%s: img must be a contiguous 3 x H x W uint8 tensor, got %s", fn,
                            lt_shape_str(img, b, sizeof b));
    if (kind < 0 || kind > 3) return lt_lua_error(L, "%s: kind must be 0..3, got %I", fn, kind);
    lt_rng *g = lt_lua_optrng(L, 3, fn);
    lt_image_texture(lt_u8(img), (int)img->size[1], (int)img->size[2], (int)kind, g);
    return 0;
}

/* read_idx(path) -> tensor | nil, msg */
static int l_read_idx(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lt_idx_header *hd = (lt_idx_header *)lua_newuserdatauv(L, sizeof(lt_idx_header), 0);
    char err[ERRLEN];
    if (lt_idx_read_header(hd, path, err, sizeof err) != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lt_tensor *t = lt_lua_newtensor(L, hd->dtype, hd->ndim, hd->size, "read_idx");
    if (lt_idx_read_data(lt_data(t), hd, path, err, sizeof err) != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* label_masks(images uint8 (N, ...), labels int32 (N), threshold) -> int32 images' shape
 * without a channel: (pixel > threshold) * (label + 1). */
static int l_label_masks(lua_State *L) {
    const char *fn = "image.label_masks";
    lt_tensor *img = lt_lua_checkdtype(L, 1, fn, "images", LT_UINT8);
    lt_tensor *lab = lt_lua_checkdtype(L, 2, fn, "labels", LT_INT32);
    lua_Number th = luaL_checknumber(L, 3);
    char b1[256], b2[256];
    if (img->ndim < 2 || lab->ndim != 1 || lab->size[0] != img->size[0])
        return lt_lua_error(L, "%s: images must be N x ... and labels N, got %s and %s", fn,
                          lt_shape_str(img, b1, sizeof b1), lt_shape_str(lab, b2, sizeof b2));
    int pi, pl;
    lt_tensor *ic = lt_lua_contiguous(L, 1, fn, "images", &pi);
    lt_tensor *lc = lt_lua_contiguous(L, 2, fn, "labels", &pl);
    lt_tensor *out = lt_lua_newtensor(L, LT_INT32, img->ndim, img->size, fn);
    int64_t n = img->size[0];
    int64_t p = n > 0 ? lt_numel(img) / n : 0;
    int thr = th < 0 ? -1 : th > 255 ? 255 : (int)th;   /* pixel > th  <=>  pixel > floor(th) */
    lt_idx_label_masks(lt_i32(out), lt_u8(ic), lt_i32(lc), n, p, thr);
    return 1;
}

/* listdir(path) -> names in directory order (without . and ..) | nil, msg.
 * The DIR handle lives in a userdata box whose __gc closes it, so a Lua error while
 * building the table cannot leak it. */
typedef struct { DIR *d; } dir_box;

static int dir_box_gc(lua_State *L) {
    dir_box *b = (dir_box *)lua_touserdata(L, 1);
    if (b && b->d) { closedir(b->d); b->d = NULL; }
    return 0;
}

static int l_listdir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    dir_box *box = (dir_box *)lua_newuserdatauv(L, sizeof(dir_box), 0);
    box->d = NULL;
    if (luaL_newmetatable(L, "lunet.image.dir_box")) {
        lua_pushcfunction(L, dir_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    errno = 0;
    box->d = opendir(path);
    if (!box->d) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(errno));
        return 2;
    }
    lua_newtable(L);
    lua_Integer n = 0;
    struct dirent *e;
    while ((e = readdir(box->d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    closedir(box->d);
    box->d = NULL;
    return 1;
}

void lt_open_image(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"read_file", l_read_file},
        {"info", l_info},
        {"decode", l_decode},
        {"encode_png", l_encode_png},
        {"encode_jpeg", l_encode_jpeg},
        {"overlay", l_overlay},
        {"composite", l_composite},
        {"texture", l_texture},
        {"read_idx", l_read_idx},
        {"listdir", l_listdir},
        {"label_masks", l_label_masks},
        {NULL, NULL}
    };
    luaL_setfuncs(L, fns, 0);
}
