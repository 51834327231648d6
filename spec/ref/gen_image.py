#!/usr/bin/python3
"""Writes the image fixtures spec/ref/images/* (tiny PNGs of every colour type and bit
depth, an interlaced PNG, JPEGs) and spec/ref/image.lua with the expected pixels for each
load mode, as documented in lua/lunet/image/init.lua. Expected values are computed in numpy
from the source arrays and cross-checked against PIL / OpenCV reading the written files.
Run: /usr/bin/python3 spec/ref/gen_image.py  (python3-pil, python3-opencv, python3-numpy)."""
import os, struct, zlib
import numpy as np
import cv2
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
IMG = os.path.join(HERE, "images")
os.makedirs(IMG, exist_ok=True)
rng = np.random.RandomState(1234)
H, W = 5, 7
cases = {}   # name -> {mode: (shape, dtype, flat values)}


def luma(r, g, b):
    r, g, b = (np.asarray(x, np.uint64) for x in (r, g, b))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.int64)


def put(name, mode, arr, dtype):
    cases.setdefault(name, {})[mode] = (list(arr.shape), dtype, [int(v) for v in arr.reshape(-1)])


def modes_from(name, chans, maxv, dtype, index=None):
    """chans: list of planes as stored (gray / gray+alpha / rgb / rgba), after palette expansion."""
    n = len(chans)
    g = chans[0] if n <= 2 else luma(chans[0], chans[1], chans[2])
    rgb = [chans[0]] * 3 if n <= 2 else chans[:3]
    a = chans[1] if n == 2 else chans[3] if n == 4 else np.full((H, W), maxv)
    put(name, "gray", np.stack([g]), dtype)
    put(name, "rgb", np.stack(rgb), dtype)
    put(name, "rgba", np.stack(rgb + [a]), dtype)
    put(name, "unchanged", np.stack(chans), dtype)
    if index is not None:
        put(name, "index", index, dtype)


def u8(*shape):
    return rng.randint(0, 256, size=shape).astype(np.int64)


# 8-bit gray
g = u8(H, W)
Image.fromarray(g.astype(np.uint8), "L").save(f"{IMG}/gray8.png")
modes_from("gray8", [g], 255, "uint8", index=g)
# gray + alpha
ga = u8(2, H, W)
Image.fromarray(np.dstack(ga).astype(np.uint8), "LA").save(f"{IMG}/gray_alpha.png")
modes_from("gray_alpha", [ga[0], ga[1]], 255, "uint8", index=ga[0])
# RGB, RGBA
rgb = u8(3, H, W)
Image.fromarray(np.dstack(rgb).astype(np.uint8), "RGB").save(f"{IMG}/rgb.png")
modes_from("rgb", list(rgb), 255, "uint8")
rgba = u8(4, H, W)
Image.fromarray(np.dstack(rgba).astype(np.uint8), "RGBA").save(f"{IMG}/rgba.png")
modes_from("rgba", list(rgba), 255, "uint8")


def voc():
    pal = []
    for i in range(256):
        r = gg = b = 0
        c = i
        for j in range(8):
            r |= (c & 1) << (7 - j)
            gg |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal.append((r, gg, b))
    return np.array(pal, np.int64)


VOC = voc()
# 8-bit palette, VOC colours, ids incl. 255 void
ids = rng.choice([0, 1, 2, 5, 15, 20, 255], size=(H, W)).astype(np.int64)
im = Image.fromarray(ids.astype(np.uint8), "P")
im.putpalette([int(v) for v in VOC.reshape(-1)])
im.save(f"{IMG}/pal8.png")
modes_from("pal8", [VOC[ids][..., k] for k in range(3)], 255, "uint8", index=ids)
# 4-bit palette (16 colours)
pal16 = u8(16, 3)
ids4 = rng.randint(0, 16, size=(H, W)).astype(np.int64)
im = Image.fromarray(ids4.astype(np.uint8), "P")
im.putpalette([int(v) for v in pal16.reshape(-1)])
im.save(f"{IMG}/pal4.png", bits=4)
modes_from("pal4", [pal16[ids4][..., k] for k in range(3)], 255, "uint8", index=ids4)
# palette with tRNS (index 0 transparent, 1 half)
pal4c = np.array([[10, 20, 30], [200, 100, 50], [0, 255, 0], [255, 255, 255]], np.int64)
idt = rng.randint(0, 4, size=(H, W)).astype(np.int64)
im = Image.fromarray(idt.astype(np.uint8), "P")
im.putpalette([int(v) for v in pal4c.reshape(-1)])
im.save(f"{IMG}/pal_trns.png", transparency=bytes([0, 128]))
alpha = np.array([0, 128, 255, 255])[idt]
modes_from("pal_trns", [pal4c[idt][..., k] for k in range(3)] + [alpha], 255, "uint8", index=idt)
# 1-bit gray
b1 = rng.randint(0, 2, size=(H, W)).astype(np.int64)
Image.fromarray((b1 * 255).astype(np.uint8), "L").convert("1").save(f"{IMG}/gray1.png")
modes_from("gray1", [b1 * 255], 255, "uint8", index=b1)
# 16-bit gray, RGB, RGBA
g16 = rng.randint(0, 65536, size=(H, W)).astype(np.int64)
cv2.imwrite(f"{IMG}/gray16.png", g16.astype(np.uint16))
modes_from("gray16", [g16], 65535, "int32", index=g16)
rgb16 = rng.randint(0, 65536, size=(3, H, W)).astype(np.int64)
cv2.imwrite(f"{IMG}/rgb16.png", np.dstack(rgb16[::-1]).astype(np.uint16))
modes_from("rgb16", list(rgb16), 65535, "int32")
rgba16 = rng.randint(0, 65536, size=(4, H, W)).astype(np.int64)
cv2.imwrite(f"{IMG}/rgba16.png", np.dstack([rgba16[2], rgba16[1], rgba16[0], rgba16[3]]).astype(np.uint16))
modes_from("rgba16", list(rgba16), 65535, "int32")


# interlaced (Adam7) 8-bit RGB, written by hand (PIL and OpenCV do not write interlaced PNGs)
def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)


rgbi = u8(3, H, W)
px = np.dstack(rgbi).astype(np.uint8)
raw = b""
for (y0, x0, dy, dx) in [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]:
    sub = px[y0::dy, x0::dx]
    if sub.size == 0:
        continue
    for row in sub:
        raw += b"\x00" + row.tobytes()
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 1)) + \
      chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(f"{IMG}/interlaced.png", "wb").write(png)
modes_from("interlaced", list(rgbi), 255, "uint8")

# cross-check every PNG against PIL (8-bit) or OpenCV (16-bit)
for name, ms in cases.items():
    path = f"{IMG}/{name}.png"
    if name.endswith("16"):
        a = cv2.imread(path, cv2.IMREAD_UNCHANGED).astype(np.int64)
        if a.ndim == 3:
            a = np.moveaxis(a, 2, 0)
            a = a[[2, 1, 0] + ([3] if a.shape[0] == 4 else [])]
        else:
            a = a[None]
        shape, _, vals = ms["unchanged"]
        assert (a.reshape(-1) == np.array(vals)).all(), name
        continue
    im = Image.open(path)
    for mode, pm in [("rgb", "RGB"), ("gray", "L"), ("rgba", "RGBA")]:
        a = np.array(im.convert(pm)).astype(np.int64)
        a = a[None] if a.ndim == 2 else np.moveaxis(a, 2, 0)
        shape, _, vals = ms[mode]
        assert list(a.shape) == shape and (a.reshape(-1) == np.array(vals)).all(), (name, mode)
    if "index" in ms and im.mode in ("P", "L", "1", "LA"):
        a = np.array(im).astype(np.int64)
        if a.ndim == 3:
            a = a[..., 0]
        assert (a.reshape(-1) == np.array(ms["index"][2])).all(), (name, "index")

# JPEGs: RGB and gray, decoded by PIL (same system libjpeg-turbo)
jp = {}
yy, xx = np.mgrid[0:12, 0:16]
smooth = np.dstack([(xx * 16) % 256, (yy * 20) % 256, ((xx + yy) * 9) % 256]).astype(np.uint8)
Image.fromarray(smooth, "RGB").save(f"{IMG}/rgb.jpg", quality=90)
Image.fromarray(smooth[..., 0], "L").save(f"{IMG}/gray.jpg", quality=90)
for name in ["rgb", "gray"]:
    im = Image.open(f"{IMG}/{name}.jpg")
    for mode, pm in [("rgb", "RGB"), ("gray", "L")]:
        a = np.array(im.convert(pm)).astype(np.int64)
        a = a[None] if a.ndim == 2 else np.moveaxis(a, 2, 0)
        jp.setdefault(name, {})[mode] = (list(a.shape), "uint8", [int(v) for v in a.reshape(-1)])


# CMYK JPEG (Adobe, inverted): top half white (0,0,0,0), bottom half black (k = 255), 16 x 16
cmyk = np.zeros((16, 16, 4), np.uint8)
cmyk[8:, :, 3] = 255
Image.fromarray(cmyk, "CMYK").save(f"{IMG}/cmyk.jpg", quality=95)


def lua_case(ms):
    out = []
    for mode in sorted(ms):
        shape, dtype, vals = ms[mode]
        out.append('    %s = {shape = {%s}, dtype = "%s", data = {%s}},' % (
            mode, ", ".join(map(str, shape)), dtype, ",".join(map(str, vals))))
    return "\n".join(out)


with open(os.path.join(HERE, "image.lua"), "w") as f:
    f.write("-- Generated by spec/ref/gen_image.py: expected pixels of spec/ref/images/* per load mode.\n")
    f.write("return {\n  png = {\n")
    for name in sorted(cases):
        f.write("   %s = {\n%s\n   },\n" % (name, lua_case(cases[name])))
    f.write("  },\n  jpeg = {\n")
    for name in sorted(jp):
        f.write("   %s = {\n%s\n   },\n" % (name, lua_case(jp[name])))
    f.write("  },\n  voc = {%s},\n}\n" % ",".join(str(int(v)) for v in VOC.reshape(-1)))
print("wrote", len(cases), "PNG cases and", len(jp), "JPEG cases")
