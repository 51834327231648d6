#!/usr/bin/python3
"""gen_metrics3d.py: reference values for spec/metrics3d_spec.lua -> spec/ref/metrics3d.lua.

Run from the repo root with the Debian python (numpy, scipy):
    /usr/bin/python3 spec/ref/gen_metrics3d.py

MONAI is not installed; its formulas are transcribed with scipy:
  * boundaries (MONAI get_mask_edges): mask XOR binary_erosion(mask, cross structure,
    border_value=0) - 6-connected in 3-D, 4-connected in 2-D;
  * directed surface distances (MONAI get_surface_distance, "euclidean"):
    distance_transform_edt(~edges_gt, sampling=spacing)[edges_pred]; an empty edges_gt gives
    inf for every pred edge voxel;
  * Hausdorff (compute_hausdorff_distance): max of the two directed maxima, or with a
    percentile the max of the two np.percentile (linear) values; both masks empty: NaN; one
    empty: inf (lunet's 2-D convention; MONAI's percentile of an all-inf array is NaN);
  * surface Dice (compute_surface_dice): (#d_pg <= tol + #d_gp <= tol) / (#d_pg + #d_gp); no
    boundary voxel at all: NaN;
  * Dice / IoU per class from voxel counts (numpy);
  * 3-D EDT: distance_transform_edt(seed == 0, sampling=spacing).
"""
import math
import os

import numpy as np
from scipy import ndimage

rng = np.random.default_rng(20261206)


def lua_value(v):
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (k, lua_value(x)) for k, x in v.items()) + "}"
    if isinstance(v, np.ndarray):
        return lua_value(v.ravel().tolist())
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua_value(x) for x in v) + "}"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"%s"' % v
    v = float(v)
    if math.isnan(v):
        return "0/0"
    if math.isinf(v):
        return "math.huge" if v > 0 else "-math.huge"
    if v == int(v) and abs(v) < 2**53:
        return str(int(v))
    return repr(v)


def edges(m):
    st = ndimage.generate_binary_structure(m.ndim, 1)
    return m ^ ndimage.binary_erosion(m, structure=st, border_value=0)


def directed(a, b, spacing):
    if not b.any():
        return np.full(int(a.sum()), np.inf)
    return ndimage.distance_transform_edt(~b, sampling=spacing)[a]


def surface(p, t, spacing, pct=None, tol=None):
    ep, et = edges(p.astype(bool)), edges(t.astype(bool))
    if not ep.any() and not et.any():
        return float("nan"), float("nan")
    if not ep.any() or not et.any():   # MONAI: distances to an empty boundary are inf
        return float("inf"), (0.0 if tol is not None else None)
    d1, d2 = directed(ep, et, spacing), directed(et, ep, spacing)
    if pct is None:
        hd = max(d1.max() if d1.size else 0, d2.max() if d2.size else 0)
    else:
        hd = max(np.percentile(d1, pct) if d1.size else 0, np.percentile(d2, pct) if d2.size else 0)
    nsd = None
    if tol is not None:
        nsd = (np.sum(d1 <= tol) + np.sum(d2 <= tol)) / (d1.size + d2.size)
    return float(hd), nsd


def blob(shape, n):
    m = np.zeros(shape, bool)
    grid = np.indices(shape).astype(float)
    for _ in range(n):
        c = [rng.uniform(0, s - 1) for s in shape]
        r = [rng.uniform(1.2, s / 2.5) for s in shape]
        m |= sum(((g - cc) / rr) ** 2 for g, cc, rr in zip(grid, c, r)) <= 1
    return m


cases = []
for name, shape, spacing, mod in [
    ("isotropic", (7, 9, 8), (1.0, 1.0, 1.0), None),
    ("anisotropic", (6, 10, 9), (2.5, 0.7, 1.1), None),
    ("touching the border", (5, 6, 7), (1.0, 2.0, 0.5), "border"),
    ("empty prediction", (4, 5, 6), (1.0, 1.0, 1.0), "empty_pred"),
    ("both empty", (4, 5, 6), (1.0, 1.0, 1.0), "both_empty"),
    ("single voxels", (5, 5, 5), (1.5, 1.0, 2.0), "points"),
]:
    t = blob(shape, 2)
    p = np.roll(t, 1, axis=2) ^ (rng.random(shape) < 0.04)   # a shifted, noisy prediction
    if mod == "border":
        p[:, :, :3] = True
    elif mod == "empty_pred":
        p[:] = False
    elif mod == "both_empty":
        p[:] = False
        t[:] = False
    elif mod == "points":
        p[:] = False
        t[:] = False
        p[1, 2, 3] = True
        t[3, 1, 0] = True
    hd, nsd1 = surface(p, t, spacing, tol=1.0)
    hd95, nsd2 = surface(p, t, spacing, pct=95, tol=2.0)
    cases.append({"name": name, "shape": list(shape), "spacing": list(spacing),
                  "pred": p.astype(int), "target": t.astype(int),
                  "hd": hd, "hd95": hd95, "nsd1": nsd1, "nsd2": nsd2})

# 2-D surface Dice (4-connected) with {sy, sx}
cases2d = []
for k in range(2):
    shape = (11, 13)
    t = blob(shape, 2)
    p = np.roll(t, 1, axis=k) ^ (rng.random(shape) < 0.05)
    sp = (0.8, 1.3)
    hd, nsd = surface(p, t, sp, tol=1.5)
    cases2d.append({"shape": list(shape), "spacing": list(sp), "pred": p.astype(int),
                    "target": t.astype(int), "hd": hd, "nsd": nsd})

# multi-class volumes: Dice / IoU per class, surface Dice per foreground class
C = 3
shape = (6, 8, 7)
target = np.zeros(shape, int)
target[blob(shape, 2)] = 1
target[blob(shape, 1)] = 2
logits = rng.standard_normal((1, C) + shape).astype(np.float32)
for c in range(C):
    logits[0, c][target == c] += 1.2
pred = logits[0].argmax(0)
dice, iou, nsd = [], [], []
for c in range(C):
    tp = np.sum((pred == c) & (target == c))
    fp = np.sum((pred == c) & (target != c))
    fn = np.sum((pred != c) & (target == c))
    dice.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"))
    iou.append(tp / (tp + fp + fn) if tp + fp + fn else float("nan"))
    if c > 0:
        nsd.append(surface(pred == c, target == c, (1.0, 2.0, 1.5), tol=1.5)[1])
multi = {"shape": list(shape), "C": C, "target": target, "logits": logits, "pred": pred,
         "dice": dice, "iou": iou, "nsd": nsd}

# 3-D EDT
seed = rng.random((5, 6, 7)) < 0.05
seed[2, 3, 4] = True
sp = (1.7, 0.6, 1.2)
edt = {"shape": [5, 6, 7], "spacing": list(sp), "seed": seed.astype(int),
       "dist": ndimage.distance_transform_edt(~seed, sampling=sp)}

with open(os.path.join("spec", "ref", "metrics3d.lua"), "w") as f:
    f.write("-- generated by spec/ref/gen_metrics3d.py; do not edit\nreturn " +
            lua_value({"volumes": cases, "images": cases2d, "multi": multi, "edt": edt}) + "\n")
