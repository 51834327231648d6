#!/usr/bin/python3
"""Reference cases for spec/transforms_spec.lua, computed with OpenCV (python3-opencv) and
numpy. Run from the repo root: /usr/bin/python3 spec/ref/gen_transforms.py
Writes spec/ref/transforms.lua (committed; the specs never need python)."""
import math
import cv2
import numpy as np

rng = np.random.default_rng(20261122)
BORDERS = {"constant": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101,
           "replicate": cv2.BORDER_REPLICATE}
INTERPS = {"bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "area": cv2.INTER_AREA}


def lua_value(v):
    if isinstance(v, str):
        return '"%s"' % v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "%.9g" % float(v)
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "f":
            return "{" + ",".join("%.9g" % x for x in v.ravel()) + "}"
        return "{" + ",".join(str(int(x)) for x in v.ravel()) + "}"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua_value(x) for x in v) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (k, lua_value(x)) for k, x in v.items()) + "}"
    raise TypeError(type(v))


def image(c, h, w, dtype):
    a = rng.integers(0, 256, (c, h, w))
    if dtype == "uint8":
        return a.astype(np.uint8)
    return (a / 255.0).astype(np.float32)


def per_channel(f, img):
    return np.stack([f(img[c]) for c in range(img.shape[0])])


cases = []


def add(**kw):
    for k in ("input", "expected"):
        kw[k + "_shape"] = list(kw[k].shape)
    kw["dtype"] = "uint8" if kw["input"].dtype == np.uint8 else "float32"
    cases.append(kw)


# warpAffine: rotations about the centre (as Rotate) and general affine matrices.
for i in range(8):
    dtype = "uint8" if i % 4 != 3 else "float32"
    c, h, w = 2, int(rng.integers(9, 14)), int(rng.integers(9, 14))
    img = image(c, h, w, dtype)
    angle = float(rng.uniform(-180, 180))
    if i < 4:
        m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
        ho, wo = h, w
    else:
        m = cv2.getRotationMatrix2D((float(rng.uniform(0, w)), float(rng.uniform(0, h))), angle,
                                    float(rng.uniform(0.6, 1.5)))
        m[0, 1] += rng.uniform(-0.2, 0.2)
        m[:, 2] += rng.uniform(-3, 3, 2)
        ho, wo = int(rng.integers(8, 14)), int(rng.integers(8, 14))
    border = list(BORDERS)[i % 3]
    for interp in ("bilinear", "nearest"):
        ref = per_channel(lambda p: cv2.warpAffine(p, m, (wo, ho), flags=INTERPS[interp],
                                                   borderMode=BORDERS[border], borderValue=7), img)
        add(op="warp_affine", input=img, expected=ref, angle=angle, matrix=m.ravel(),
            height=ho, width=wo, interpolation=interp, border=border, fill=7,
            rotation=(i < 4))

# remap with random maps (ElasticTransform / GridDistortion sampling)
for i, border in enumerate(BORDERS):
    dtype = "uint8" if i != 1 else "float32"
    img = image(2, 10, 12, dtype)
    mx = rng.uniform(-3, 15, (9, 11)).astype(np.float32)
    my = rng.uniform(-3, 13, (9, 11)).astype(np.float32)
    for interp in ("bilinear", "nearest"):
        ref = per_channel(lambda p: cv2.remap(p, mx, my, INTERPS[interp], borderMode=BORDERS[border],
                                              borderValue=7), img)
        add(op="remap", input=img, expected=ref, mapx=mx, mapy=my, interpolation=interp,
            border=border, fill=7)

# resize: up, down, integer and fractional factors
for (h, w, ho, wo) in [(12, 16, 7, 9), (8, 10, 16, 20), (9, 7, 15, 11), (16, 12, 8, 6), (15, 14, 10, 9)]:
    for dtype in ("uint8", "float32"):
        img = image(2 if dtype == "uint8" else 1, h, w, dtype)
        for interp in ("bilinear", "nearest", "area"):
            ref = per_channel(lambda p: cv2.resize(p, (wo, ho), interpolation=INTERPS[interp]), img)
            add(op="resize", input=img, expected=ref, height=ho, width=wo, interpolation=interp)

# pads (PadIfNeeded) as cv2.copyMakeBorder, crops as slices
for border in BORDERS:
    img = image(2, 5, 6, "uint8")
    t, b, l, r = 3, 4, 7, 2
    ref = per_channel(lambda p: cv2.copyMakeBorder(p, t, b, l, r, BORDERS[border], value=9), img)
    add(op="pad", input=img, expected=ref, top=t, left=l, border=border, fill=9)
img = image(3, 11, 13, "uint8")
add(op="crop", input=img, expected=img[:, 2:9, 4:10], top=2, left=4)

# flips and numpy.rot90
img = image(2, 5, 7, "uint8")
for k in range(4):
    add(op="rot90", input=img, expected=np.ascontiguousarray(np.rot90(img, k, axes=(1, 2))), k=k)
add(op="hflip", input=img, expected=np.ascontiguousarray(img[:, :, ::-1]))
add(op="vflip", input=img, expected=np.ascontiguousarray(img[:, ::-1, :]))

# HSV shift as albumentations on uint8: cvtColor to HSV, shift, clip, back
for (dh, ds, dv) in [(0, 0, 0), (15, -20, 25), (-40, 35, -30)]:
    img = image(3, 6, 7, "uint8")
    hsv = cv2.cvtColor(np.ascontiguousarray(img.transpose(1, 2, 0)), cv2.COLOR_RGB2HSV).astype(np.int32)
    hsv[..., 0] = (hsv[..., 0] + dh) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] + ds, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] + dv, 0, 255)
    rgb = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).transpose(2, 0, 1)
    add(op="hsv", input=img, expected=np.ascontiguousarray(rgb), hue=dh, sat=ds, val=dv)

with open("spec/ref/transforms.lua", "w") as f:
    f.write("-- generated by spec/ref/gen_transforms.py (OpenCV %s); do not edit\n" % cv2.__version__)
    f.write("return {\n  opencv = %s,\n  cases = {\n" % lua_value(cv2.__version__))
    for cs in cases:
        f.write("    {" + ", ".join("%s = %s" % (k, lua_value(v)) for k, v in cs.items()) + "},\n")
    f.write("  },\n}\n")
print(len(cases), "cases")
