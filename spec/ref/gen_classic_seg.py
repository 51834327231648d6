#!/usr/bin/python3
"""Reference values for spec/classic_sp_spec.lua and spec/panoptic_spec.lua: SLIC and
Felzenszwalb label images from scikit-image (0.19.3 on Debian) on small crops of real photos
shipped by Debian's labelme-examples package (Pascal VOC 2011_000003.jpg and 2011_000025.jpg),
and panoptic quality computed by an independent numpy implementation of Kirillov et al.'s
definition. Writes spec/ref/classic_seg/ref.lua.

    /usr/bin/python3 spec/ref/gen_classic_seg.py
"""
import os
import numpy as np
import skimage
from skimage import io
from skimage.segmentation import slic, felzenszwalb, find_boundaries
from scipy import ndimage as ndi

D = "/usr/share/doc/labelme-examples/examples/semantic_segmentation/data_annotated/"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classic_seg", "ref.lua")


def crop(name, y, x, h, w):
    im = io.imread(D + name)
    return np.ascontiguousarray(im[y:y + h, x:x + w, :3])


def lua_bytes(a):
    return '"' + a.astype(np.uint8).tobytes().hex() + '"'


def lua_ints(a):
    return "{" + ",".join(str(int(v)) for v in np.asarray(a).ravel()) + "}"


def lua_val(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if np.isfinite(v) else "0/0"
    return str(v)


def lua_opts(d):
    return "{" + ", ".join(f"{k} = {lua_val(v)}" for k, v in d.items()) + "}"


images = {
    "person": crop("2011_000003.jpg", 60, 200, 64, 80),      # person, railing, background
    "street": crop("2011_000025.jpg", 150, 160, 72, 72),     # bus front, road, trees
}
gray = {k: np.round(v.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)
        for k, v in images.items()}

slic_cases = [
    ("person", False, dict(n_segments=30, compactness=10.0)),
    ("person", False, dict(n_segments=60, compactness=20.0, sigma=1.0, start_label=0)),
    ("street", False, dict(n_segments=25, compactness=5.0, enforce_connectivity=False)),
    ("street", False, dict(n_segments=40, compactness=10.0, max_num_iter=4, convert2lab=False)),
    ("person", True, dict(n_segments=20, compactness=0.1)),
]
fz_cases = [
    ("person", False, dict(scale=100.0, sigma=0.8, min_size=20)),
    ("street", False, dict(scale=50.0, sigma=0.5, min_size=10)),
    ("street", False, dict(scale=1.0, sigma=0.0, min_size=5)),
    ("person", True, dict(scale=30.0, sigma=1.0, min_size=15)),
]


def pq_reference(pred, gt, pcat=None, gcat=None):
    """Kirillov et al. 2019: segments match when IoU > 0.5 (and the category agrees); per
    category PQ = sum IoU(TP) / (TP + FP/2 + FN/2); overall = mean over categories present."""
    pids = [i for i in np.unique(pred) if i != 0]
    gids = [i for i in np.unique(gt) if i != 0]
    pc = (lambda i: 0) if pcat is None else (lambda i: pcat[int(i)])
    gc = (lambda i: 0) if gcat is None else (lambda i: gcat[int(i)])
    cats = sorted(set(pc(i) for i in pids) | set(gc(i) for i in gids))
    res = {}
    for c in cats:
        tp, iou_sum, mp, mg = 0, 0.0, set(), set()
        for g in gids:
            if gc(g) != c:
                continue
            for p in pids:
                if pc(p) != c:
                    continue
                inter = np.sum((pred == p) & (gt == g))
                union = np.sum((pred == p) | (gt == g))
                iou = inter / union
                if iou > 0.5:
                    tp, iou_sum = tp + 1, iou_sum + iou
                    mp.add(p)
                    mg.add(g)
        fp = sum(1 for p in pids if pc(p) == c and p not in mp)
        fn = sum(1 for g in gids if gc(g) == c and g not in mg)
        den = tp + fp / 2 + fn / 2
        pq = iou_sum / den if den > 0 else float("nan")
        sq = iou_sum / tp if tp > 0 else 0.0
        rq = tp / den if den > 0 else float("nan")
        res[c] = (pq, sq, rq, tp, fp, fn)
    if not res:
        return float("nan"), float("nan"), float("nan"), res
    return (np.mean([r[0] for r in res.values()]), np.mean([r[1] for r in res.values()]),
            np.mean([r[2] for r in res.values()]), res)


def random_instances(rng, h, w, n):
    ids = np.zeros((h, w), np.int32)
    for i in range(1, n + 1):
        y, x = rng.integers(0, h), rng.integers(0, w)
        ry, rx = rng.integers(2, h // 3), rng.integers(2, w // 3)
        yy, xx = np.ogrid[:h, :w]
        ids[((yy - y) / ry) ** 2 + ((xx - x) / rx) ** 2 <= 1] = i
    return ids


def perturb(rng, ids):
    """A prediction: shifted objects, one dropped, a spurious one, relabelled ids."""
    p = np.roll(ids, (rng.integers(-2, 3), rng.integers(-2, 3)), axis=(0, 1))
    ids_present = [i for i in np.unique(p) if i]
    if ids_present:
        p[p == ids_present[0]] = 0
    h, w = p.shape
    p[rng.integers(0, h - 6):, :][:4, rng.integers(0, w - 6):][:, :5] = 99
    perm = {0: 0}
    for j, i in enumerate(np.unique(p)[1:]):
        perm[int(i)] = 7 * j + 3
    return np.vectorize(perm.get)(p).astype(np.int32)


def main():
    rng = np.random.default_rng(17)
    out = ["-- generated by spec/ref/gen_classic_seg.py (scikit-image %s); do not edit" % skimage.__version__,
           "local R = {images = {}, slic = {}, felzenszwalb = {}, pq = {}}"]
    for k, v in images.items():
        h, w, _ = v.shape
        out.append(f"R.images.{k} = {{h = {h}, w = {w}, rgb = {lua_bytes(v.transpose(2, 0, 1))}, "
                   f"gray = {lua_bytes(gray[k])}}}")
    for name, is_gray, o in slic_cases:
        img = gray[name] if is_gray else images[name]
        lab = slic(img, channel_axis=None if is_gray else -1, **o)
        out.append(f"R.slic[#R.slic + 1] = {{image = '{name}', gray = {lua_val(is_gray)}, "
                   f"opts = {lua_opts(o)}, labels = {lua_ints(lab)}}}")
    for name, is_gray, o in fz_cases:
        img = gray[name] if is_gray else images[name]
        lab = felzenszwalb(img, channel_axis=None if is_gray else -1, **o)
        out.append(f"R.felzenszwalb[#R.felzenszwalb + 1] = {{image = '{name}', gray = {lua_val(is_gray)}, "
                   f"opts = {lua_opts(o)}, labels = {lua_ints(lab)}}}")
    for case in range(4):
        h, w = 24, 30
        gt = random_instances(rng, h, w, 5 + case)
        pred = perturb(rng, gt)
        pcat = gcat = None
        if case >= 2:
            gcat = {int(i): int(i) % 2 + 1 for i in np.unique(gt) if i}
            pcat = {int(i): int(i) % 2 + 1 for i in np.unique(pred) if i}
        pq, sq, rq, per = pq_reference(pred, gt, pcat, gcat)
        cats = "{" + ", ".join(f"[{c}] = {{pq = {lua_val(float(r[0]))}, sq = {lua_val(float(r[1]))}, "
                               f"rq = {lua_val(float(r[2]))}, tp = {r[3]}, fp = {r[4]}, fn = {r[5]}}}"
                               for c, r in per.items()) + "}"
        def catmap(m):
            return "nil" if m is None else "{" + ", ".join(f"[{k}] = {v}" for k, v in m.items()) + "}"
        out.append(f"R.pq[#R.pq + 1] = {{h = {h}, w = {w}, pred = {lua_ints(pred)}, gt = {lua_ints(gt)}, "
                   f"pred_categories = {catmap(pcat)}, gt_categories = {catmap(gcat)}, "
                   f"pq = {lua_val(float(pq))}, sq = {lua_val(float(sq))}, rq = {lua_val(float(rq))}, "
                   f"per_category = {cats}}}")
    out.append("R.targets = {}")
    for case in range(3):
        h, w = 20 + 4 * case, 26
        ids = random_instances(rng, h, w, 4 + 2 * case)
        bnd = find_boundaries(ids, connectivity=2, mode="inner").astype(np.uint8)
        dist = np.zeros((h, w))
        for i in np.unique(ids)[1:]:
            d = ndi.distance_transform_edt(ids == i)
            dist = np.where(ids == i, d / d.max(), dist)
        out.append(f"R.targets[#R.targets + 1] = {{h = {h}, w = {w}, ids = {lua_ints(ids)}, "
                   f"boundary = {lua_ints(bnd)}, distance = {{" + ",".join(repr(float(v)) for v in dist.ravel()) + "}}")
    out.append("return R")
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
