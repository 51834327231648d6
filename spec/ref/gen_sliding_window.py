#!/usr/bin/python3
"""gen_sliding_window.py: reference values for spec/sliding_window_spec.lua ->
spec/ref/sliding_window.lua.

Run from the repo root with the Debian python (numpy only; MONAI is not installed, so its
sliding_window_inference (monai/inferers/utils.py, MONAI 1.x) is transcribed here:
compute_importance_map, _get_scan_interval, dense_patch_slices, symmetric constant padding,
weighted accumulation divided by the summed weights, padding cropped).

The input of each case is x = sin(0.37 * i) over the flat index i (lunet builds the same),
the "model" is window-dependent so that the blending matters:
    f(patch) = [patch.sum(axis=1) + patch.mean(),  patch[:, 0] * 0.5 - patch.max()]
(per window: n x 2 x roi).
"""
import math
import os

import numpy as np


def lua_value(v):
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (k, lua_value(x)) for k, x in v.items()) + "}"
    if isinstance(v, np.ndarray):
        return lua_value(v.ravel().tolist())
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua_value(x) for x in v) + "}"
    if isinstance(v, str):
        return '"%s"' % v
    v = float(v)
    if v == int(v) and abs(v) < 2**53:
        return str(int(v))
    return repr(v)


def importance_map(roi, mode, sigma_scale):
    if mode == "constant":
        return np.ones(roi)
    sigmas = [n * sigma_scale for n in roi]
    m = None
    for i, n in enumerate(roi):
        x = np.arange(-(n - 1) / 2.0, (n - 1) / 2.0 + 1)
        g = np.exp(x ** 2 / (-2 * sigmas[i] ** 2)).astype(np.float32)
        m = g if m is None else np.multiply.outer(m, g)
    lo = max(float(m.min()), 1e-3)
    return np.clip(m.astype(np.float32), lo, None)


def scan_interval(size, roi, overlap):
    out = []
    for s, r in zip(size, roi):
        if r == s:
            out.append(r)
        else:
            i = int(r * (1 - overlap))
            out.append(i if i > 0 else 1)
    return out


def dense_patch_slices(size, roi, interval):
    starts = []
    for s, r, iv in zip(size, roi, interval):
        num = int(math.ceil(float(s) / iv))
        scan = next((d for d in range(num) if d * iv + r >= s), None)
        n = scan + 1 if scan is not None else 1
        starts.append([k * iv - max(k * iv + r - s, 0) for k in range(n)])
    return [tuple(p) for p in np.array(np.meshgrid(*starts, indexing="ij")).reshape(len(size), -1).T]


def model(p):
    a = p.sum(axis=1) + p.mean()
    b = p[:, 0] * 0.5 - p.max()
    return np.stack([a, b], axis=1)


def sliding_window(x, roi, overlap, mode, sigma_scale, sw_batch, cval):
    nsp = len(roi)
    size = list(x.shape[2:])
    roi = [r if r > 0 else s for r, s in zip(roi, size)]
    pad = []
    for s, r in zip(size, roi):
        diff = max(r - s, 0)
        pad.append((diff // 2, diff - diff // 2))
    xp = np.pad(x, [(0, 0), (0, 0)] + pad, constant_values=cval)
    psize = list(xp.shape[2:])
    slices = dense_patch_slices(psize, roi, scan_interval(psize, roi, overlap))
    w = importance_map(roi, mode, sigma_scale)
    out = np.zeros((x.shape[0], 2) + tuple(psize))
    cnt = np.zeros(tuple(psize))
    for n in range(x.shape[0]):
        for k in range(0, len(slices), sw_batch):
            wins = slices[k:k + sw_batch]
            batch = np.concatenate([xp[n:n + 1][(slice(None), slice(None)) +
                                    tuple(slice(s, s + r) for s, r in zip(st, roi))] for st in wins])
            y = np.concatenate([model(batch[j:j + 1]) for j in range(len(wins))])   # per window
            for j, st in enumerate(wins):
                sl = tuple(slice(s, s + r) for s, r in zip(st, roi))
                out[(n, slice(None)) + sl] += y[j] * w
                if n == 0:
                    cnt[sl] += w
    out = out / cnt
    crop = tuple(slice(b, b + s) for (b, _), s in zip(pad, size))
    return out[(slice(None), slice(None)) + crop], slices


cases = []
for name, shape, roi, overlap, mode, ss, swb, cval in [
    ("3-D gaussian, overlap 0.5", (1, 2, 9, 10, 11), (4, 5, 6), 0.5, "gaussian", 0.125, 3, 0.0),
    ("3-D constant, default overlap, two volumes", (2, 1, 7, 8, 9), (4, 4, 5), 0.25, "constant", 0.125, 2, 0.0),
    ("3-D padding (volume smaller than the roi), gaussian sigma 0.3", (1, 1, 3, 9, 5), (6, 4, 8), 0.25, "gaussian", 0.3, 4, -1.0),
    ("3-D roi of -1 on one axis", (1, 1, 5, 6, 7), (-1, 4, 4), 0.25, "gaussian", 0.125, 1, 0.0),
    ("2-D images", (1, 2, 13, 11), (6, 5), 0.4, "gaussian", 0.125, 2, 0.0),
]:
    n = int(np.prod(shape))
    x = np.sin(0.37 * np.arange(n)).astype(np.float32).astype(np.float64).reshape(shape)
    out, slices = sliding_window(x, list(roi), overlap, mode, ss, swb, cval)
    cases.append({"name": name, "shape": list(shape), "roi": list(roi), "overlap": overlap,
                  "mode": mode, "sigma_scale": ss, "sw_batch_size": swb, "cval": cval,
                  "out": out, "windows": len(slices)})

maps = []
for roi, ss in [((5, 6, 7), 0.125), ((4, 8, 3), 0.25), ((16, 16, 16), 0.125), ((9, 10), 0.125)]:
    maps.append({"roi": list(roi), "sigma_scale": ss, "map": importance_map(list(roi), "gaussian", ss)})

with open(os.path.join("spec", "ref", "sliding_window.lua"), "w") as f:
    f.write("-- generated by spec/ref/gen_sliding_window.py; do not edit\nreturn " +
            lua_value({"cases": cases, "maps": maps}) + "\n")
