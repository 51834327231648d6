#!/usr/bin/python3
"""gen_metrics.py: reference values for spec/metrics_spec.lua -> spec/ref/metrics.lua.

Run from the repo root with the Debian python (numpy, scipy, scikit-learn):
    /usr/bin/python3 spec/ref/gen_metrics.py

Sources of truth:
  * confusion matrix, per-class IoU/F1/F-beta/precision/recall, accuracy, balanced accuracy:
    scikit-learn (ignored pixels removed before the call);
  * functional reductions: a numpy transcription of segmentation_models_pytorch's get_stats +
    _compute_metric (micro, macro, micro-imagewise, macro-imagewise, none; zero_division);
  * Hausdorff / HD95: scipy.ndimage.binary_erosion (border_value=0, cross structure) and
    scipy.ndimage.distance_transform_edt(sampling=spacing), np.percentile (linear), as MONAI;
  * saliency: numpy implementations written from Fan et al. 2017 / 2018 and the public
    PySODMetrics conventions (256 thresholds of uint8(255 * sal), adaptive min(2 mean, 1));
  * instances: IoU matrix + scipy.optimize.linear_sum_assignment (StarDist's matching),
    AP = TP / (TP + FP + FN) averaged over 0.5:0.05:0.95.
"""
import math
import os
import warnings

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix,
                             f1_score, fbeta_score, jaccard_score, precision_score, recall_score)

warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
rng = np.random.default_rng(20261122)
EPS = np.spacing(1)


def lua_value(v):
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (k, lua_value(x)) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "{" + ", ".join(lua_value(x) for x in np.asarray(v, dtype=object).ravel().tolist()) + "}" \
            if not isinstance(v, (list, tuple)) else "{" + ", ".join(lua_value(x) for x in v) + "}"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, str):
        return '"%s"' % v
    if v is None:
        return "nil"
    f = float(v)
    if math.isnan(f):
        return "0/0"
    if math.isinf(f):
        return "math.huge" if f > 0 else "-math.huge"
    return "%.17g" % f


def flat(a):
    return [x for x in np.asarray(a).ravel().tolist()]


def flatf(a):
    return [float("%.9g" % x) for x in np.asarray(a, dtype=np.float32).ravel().tolist()]


# ------------------------------------------------------------------------------------------
# confusion matrix vs scikit-learn

def cm_reference(pred, target, C, ignore):
    keep = np.ones(target.shape, bool) if ignore is None else target != ignore
    yt, yp = target[keep].ravel(), pred[keep].ravel()
    labels = list(range(C))
    cm = confusion_matrix(yt, yp, labels=labels)
    present = sorted(set(yt.tolist()) | set(yp.tolist()))
    def per_class(fn, **kw):
        out = [float("nan")] * C
        vals = fn(yt, yp, labels=present, average=None, zero_division=0, **kw)
        for k, v in zip(present, vals):
            out[k] = float(v)
        return out
    iou = [float("nan")] * C
    for k, v in zip(present, jaccard_score(yt, yp, labels=present, average=None, zero_division=0)):
        iou[k] = float(v)
    dice = per_class(f1_score)
    f2 = per_class(fbeta_score, beta=2.0)
    prec = per_class(precision_score)
    rec = per_class(recall_score)
    return dict(
        matrix=flat(cm), iou=iou, dice=dice, f2=f2, precision=prec, recall=rec,
        miou=float(jaccard_score(yt, yp, labels=present, average="macro", zero_division=0)),
        mdice=float(f1_score(yt, yp, labels=present, average="macro", zero_division=0)),
        pa=float(accuracy_score(yt, yp)),
        mpa=float(balanced_accuracy_score(yt, yp)),
        total=int(keep.sum()))


def cm_cases():
    cases = []
    # 1: 4 classes, N x H x W int32, void pixels 255
    C, N, H, W = 4, 2, 5, 7
    t = rng.integers(0, C, (N, H, W))
    p = np.where(rng.random((N, H, W)) < 0.6, t, rng.integers(0, C, (N, H, W)))
    t[rng.random((N, H, W)) < 0.15] = 255
    cases.append(dict(name="int32 labels with ignored 255", C=C, ignore=255, dtype="int32",
                      shape=[N, H, W], pred=flat(p), target=flat(t), ref=cm_reference(p, t, C, 255)))
    # 2: 6 classes; class 5 absent from both, class 4 only predicted, class 3 only in target
    C, H, W = 6, 6, 8
    t = rng.integers(0, 4, (H, W))
    p = np.where(rng.random((H, W)) < 0.5, t, rng.integers(0, 3, (H, W)))
    p[t == 3] = rng.integers(0, 3, int((t == 3).sum()))
    p[0, :3] = 4
    cases.append(dict(name="H x W uint8 with absent and one-sided classes", C=C, ignore=None,
                      dtype="uint8", shape=[H, W], pred=flat(p), target=flat(t),
                      ref=cm_reference(p, t, C, None)))
    # 3: logits N x C x H x W, ignore_index 0 is not allowed as a class here: use -1 style 255
    C, N, H, W = 3, 2, 4, 5
    t = rng.integers(0, C, (N, H, W))
    logits = rng.standard_normal((N, C, H, W)).astype(np.float32)
    logits += 1.5 * np.eye(C, dtype=np.float32)[t].transpose(0, 3, 1, 2)
    t[0, 0, :2] = 255
    p = logits.argmax(1)
    cases.append(dict(name="float32 logits", C=C, ignore=255, dtype="int32", shape=[N, H, W],
                      logits=flatf(logits), logits_shape=[N, C, H, W], pred=flat(p),
                      target=flat(t), ref=cm_reference(p, t, C, 255)))
    return cases


# ------------------------------------------------------------------------------------------
# functional reductions: numpy transcription of smp get_stats + _compute_metric

def smp_stats(pred, target, C, ignore):
    pred = pred.reshape(pred.shape[0], -1).copy()
    target = target.reshape(target.shape[0], -1).copy()
    if ignore is not None:
        ign = target == ignore
        pred[ign] = -1
        target[ign] = -1
    N = pred.shape[0]
    tp = np.zeros((N, C), np.int64); fp = tp.copy(); fn = tp.copy()
    for i in range(N):
        for k in range(C):
            tp[i, k] = np.sum((pred[i] == k) & (target[i] == k))
            fp[i, k] = np.sum((pred[i] == k) & (target[i] != k) & (target[i] >= 0))
            fn[i, k] = np.sum((target[i] == k) & (pred[i] != k))
    return tp, fp, fn


def smp_reduce(metric, tp, fp, fn, reduction, zd):
    tp, fp, fn = tp.astype(np.float64), fp.astype(np.float64), fn.astype(np.float64)
    def fix(x):
        x = np.asarray(x, np.float64)
        return np.where(np.isnan(x), zd, x)
    with np.errstate(invalid="ignore", divide="ignore"):
        if reduction == "micro":
            return float(metric(tp.sum(), fp.sum(), fn.sum()))
        if reduction == "macro":
            return float(fix(metric(tp.sum(0), fp.sum(0), fn.sum(0))).mean())
        if reduction == "micro-imagewise":
            return float(fix(metric(tp.sum(1), fp.sum(1), fn.sum(1))).mean())
        if reduction == "macro-imagewise":
            return float(fix(metric(tp, fp, fn)).mean(0).mean())
        if reduction == "none":
            return fix(metric(tp, fp, fn))


def m_iou(tp, fp, fn):
    return tp / (tp + fp + fn)


def m_dice(tp, fp, fn):
    return 2 * tp / (2 * tp + fp + fn)


def nanmean(x):
    x = np.asarray(x, np.float64)
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def functional_cases():
    C, N, H, W = 4, 3, 6, 6
    t = rng.integers(0, 3, (N, H, W))            # class 3 never in the target
    p = np.where(rng.random((N, H, W)) < 0.6, t, rng.integers(0, 3, (N, H, W)))
    p[2] = np.where(p[2] == 2, 0, p[2])          # image 3: class 2 missing from the prediction
    t[2] = np.where(t[2] == 2, 1, t[2])          # ... and from the target
    t[0, 0, :] = 255
    tp, fp, fn = smp_stats(p, t, C, 255)
    out = dict(C=C, shape=[N, H, W], pred=flat(p), target=flat(t), ignore=255, expect={})
    e = out["expect"]
    for name, fnc in (("iou", m_iou), ("dice", m_dice)):
        with np.errstate(invalid="ignore", divide="ignore"):
            # lunet defaults (NaN skipped) computed directly
            pooled = fnc(tp.sum(0).astype(float), fp.sum(0).astype(float), fn.sum(0).astype(float))
            per_img = fnc(tp.astype(float), fp.astype(float), fn.astype(float))
            micro_img = fnc(tp.sum(1).astype(float), fp.sum(1).astype(float), fn.sum(1).astype(float))
        e[name] = dict(
            micro=smp_reduce(fnc, tp, fp, fn, "micro", 1.0),
            macro=nanmean(pooled),
            none=[float(x) for x in pooled],
            micro_image=nanmean(micro_img),
            macro_image=nanmean([nanmean(r) for r in per_img]),
            none_image=[[float(x) for x in r] for r in per_img],
            # smp with its default zero_division=1.0
            smp_macro=smp_reduce(fnc, tp, fp, fn, "macro", 1.0),
            smp_macro_image=smp_reduce(fnc, tp, fp, fn, "macro-imagewise", 1.0),
            smp_micro_image=smp_reduce(fnc, tp, fp, fn, "micro-imagewise", 1.0),
            fg_micro=float(fnc(tp[:, 1:].sum(), fp[:, 1:].sum(), fn[:, 1:].sum())),
        )
    keep = t != 255
    yt, yp = t[keep], p[keep]
    e["pixel_accuracy"] = dict(
        micro=float(accuracy_score(yt, yp)), macro=float(balanced_accuracy_score(yt, yp)),
        micro_image=float(np.mean([accuracy_score(t[i][keep[i]], p[i][keep[i]]) for i in range(N)])),
    )
    return out


# ------------------------------------------------------------------------------------------
# Hausdorff vs scipy (MONAI's definition)

def boundary(m):
    return m & ~ndimage.binary_erosion(m, border_value=0)


def hausdorff_ref(p, t, pct, spacing):
    bp, bt = boundary(p.astype(bool)), boundary(t.astype(bool))
    if not bp.any() and not bt.any():
        return float("nan")
    if not bp.any() or not bt.any():
        return float("inf")
    d1 = ndimage.distance_transform_edt(~bt, sampling=spacing)[bp]
    d2 = ndimage.distance_transform_edt(~bp, sampling=spacing)[bt]
    if pct is None:
        return float(max(d1.max(), d2.max()))
    return float(max(np.percentile(d1, pct), np.percentile(d2, pct)))


def blob(H, W, k, thresh):
    x = ndimage.gaussian_filter(rng.standard_normal((H, W)), k)
    return (x > thresh * x.std()).astype(np.int32)


def hausdorff_cases():
    cases = []
    for (H, W, spacing, sig) in ((20, 27, (1.0, 1.0), 2.0), (33, 24, (0.7, 1.3), 3.0),
                                 (16, 16, (2.0, 0.5), 1.5)):
        p, t = blob(H, W, sig, 0.3), blob(H, W, sig, 0.2)
        cases.append(dict(shape=[H, W], spacing=list(spacing), pred=flat(p), target=flat(t),
                          hd=hausdorff_ref(p, t, None, spacing),
                          hd95=hausdorff_ref(p, t, 95, spacing),
                          hd50=hausdorff_ref(p, t, 50, spacing)))
    # a hole, a mask touching the image border, an isolated pixel
    H, W = 12, 14
    t = np.zeros((H, W), np.int32); t[2:9, 3:11] = 1; t[5, 6] = 0
    p = np.zeros((H, W), np.int32); p[0:7, 5:14] = 1; p[10, 1] = 1
    cases.append(dict(shape=[H, W], spacing=[1.0, 1.0], pred=flat(p), target=flat(t),
                      hd=hausdorff_ref(p, t, None, (1, 1)), hd95=hausdorff_ref(p, t, 95, (1, 1)),
                      hd50=hausdorff_ref(p, t, 50, (1, 1))))
    return cases


# ------------------------------------------------------------------------------------------
# saliency, from the papers' definitions with PySODMetrics' conventions

def sal_u8(sal):
    return (sal.astype(np.float64) * 255).astype(np.uint8)


def ref_fmeasure(sal, gt, beta2=0.3):
    s = sal.astype(np.float64)
    thr = min(2 * s.mean(), 1.0)
    b = s >= thr
    inter = np.sum(b & gt)
    if inter == 0:
        adp = 0.0
    else:
        pre, rec = inter / b.sum(), inter / gt.sum()
        adp = (1 + beta2) * pre * rec / (beta2 * pre + rec)
    best = 0.0
    T = max(gt.sum(), 1)
    u8 = sal_u8(sal)
    for t in range(256):
        b = u8 >= t
        tp, pp = np.sum(b & gt), max(b.sum(), 1)
        pre, rec = tp / pp, tp / T
        num = (1 + beta2) * pre * rec
        f = num / (beta2 * pre + rec) if num != 0 else 0.0
        best = max(best, f)
    return float(adp), float(best)


def ssim_block(x, y):
    N = x.size
    if N == 0:
        return 0.0
    mx, my = x.mean(), y.mean()
    dn = N - 1 if N > 1 else 1
    vx, vy = np.sum((x - mx) ** 2) / dn, np.sum((y - my) ** 2) / dn
    cxy = np.sum((x - mx) * (y - my)) / dn
    a = 4 * mx * my * cxy
    b = (mx ** 2 + my ** 2) * (vx + vy)
    if a != 0:
        return a / (b + EPS)
    return 1.0 if b == 0 else 0.0


def s_obj(x):
    m = x.mean()
    sd = x.std(ddof=1) if x.size > 1 else 0.0
    return 2 * m / (m * m + 1 + sd + EPS)


def ref_smeasure(sal, gt, alpha=0.5):
    s = sal.astype(np.float64)
    g = gt.astype(np.float64)
    y = g.mean()
    if y == 0:
        return float(1 - s.mean())
    if y == 1:
        return float(s.mean())
    obj = y * s_obj(s[gt]) + (1 - y) * s_obj(1 - s[~gt])
    H, W = gt.shape
    cy, cx = np.argwhere(gt).mean(axis=0).round()
    X, Y = int(cx) + 1, int(cy) + 1
    area = H * W
    w1, w2, w3 = X * Y / area, Y * (W - X) / area, (H - Y) * X / area
    w4 = 1 - w1 - w2 - w3
    reg = (w1 * ssim_block(s[:Y, :X], g[:Y, :X]) + w2 * ssim_block(s[:Y, X:], g[:Y, X:]) +
           w3 * ssim_block(s[Y:, :X], g[Y:, :X]) + w4 * ssim_block(s[Y:, X:], g[Y:, X:]))
    return float(max(0.0, alpha * obj + (1 - alpha) * reg))


def em_of_binary(b, gt):
    """Mean of the enhanced alignment matrix of a binary prediction (Fan et al. 2018)."""
    size = gt.size
    if gt.sum() == 0:
        enh = 1.0 - b                 # reference: all-background gt scores 1 - fg
        total = enh.sum()
    elif gt.sum() == size:
        total = b.sum()
    else:
        fp = b.astype(np.float64) - b.mean()
        fg = gt.astype(np.float64) - gt.mean()
        align = 2 * fp * fg / (fp * fp + fg * fg + EPS)
        total = np.sum((align + 1) ** 2 / 4)
    return float(total / (size - 1 + EPS))


def ref_emeasure(sal, gt):
    s = sal.astype(np.float64)
    thr = min(2 * s.mean(), 1.0)
    adp = em_of_binary((s >= thr).astype(np.float64), gt)
    u8 = sal_u8(sal)
    curve = [em_of_binary((u8 >= t).astype(np.float64), gt) for t in range(255, -1, -1)]
    return float(np.mean(curve)), adp, float(np.max(curve))


def saliency_cases():
    cases = []
    for (H, W, k) in ((24, 30, 2.5), (17, 21, 1.5), (20, 20, 3.0)):
        x = ndimage.gaussian_filter(rng.standard_normal((H, W)), k)
        sal = ((x - x.min()) / (x.max() - x.min())).astype(np.float32)
        noise = ndimage.gaussian_filter(rng.standard_normal((H, W)), k)
        gt = (x + 0.8 * noise) > 0.4 * x.std()
        cases.append((sal, gt))
    sal = rng.random((9, 11)).astype(np.float32)
    cases.append((sal, np.zeros((9, 11), bool)))       # all-background mask
    cases.append((sal, np.ones((9, 11), bool)))        # all-foreground mask
    out = []
    for sal, gt in cases:
        fa, fm = ref_fmeasure(sal, gt)
        em, ea, ex = ref_emeasure(sal, gt)
        out.append(dict(shape=list(sal.shape), sal=flatf(sal), mask=flat(gt.astype(np.int32)),
                        mae=float(np.mean(np.abs(sal.astype(np.float64) - gt))),
                        f_adaptive=fa, f_max=fm, s=ref_smeasure(sal, gt),
                        e_mean=em, e_adaptive=ea, e_max=ex))
    return out


# ------------------------------------------------------------------------------------------
# instances vs Hungarian matching (StarDist)

AP_T = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]


def inst_ref(pred, gt, thrs):
    pids = [i for i in np.unique(pred) if i > 0]
    gids = [i for i in np.unique(gt) if i > 0]
    iou = np.zeros((len(pids), len(gids)))
    for a, i in enumerate(pids):
        for b, j in enumerate(gids):
            inter = np.sum((pred == i) & (gt == j))
            union = np.sum((pred == i) | (gt == j))
            iou[a, b] = inter / union if union else 0
    res = []
    for thr in thrs:
        tp, s = 0, 0.0
        if iou.size:
            nm = min(iou.shape)
            cost = -(iou >= thr).astype(float) - iou / (2 * nm)
            r, c = linear_sum_assignment(cost)
            ok = iou[r, c] >= thr
            tp, s = int(ok.sum()), float(iou[r, c][ok].sum())
        res.append(dict(tp=tp, fp=len(pids) - tp, fn=len(gids) - tp,
                        mean_iou=s / tp if tp else float("nan")))
    return res


def instance_map(H, W, n, start_id):
    m = np.zeros((H, W), np.int32)
    ids = []
    for k in range(n):
        h, w = rng.integers(4, 10, 2)
        y, x = rng.integers(0, H - h), rng.integers(0, W - w)
        m[y:y + h, x:x + w] = start_id + 7 * k      # non-consecutive ids, later objects on top
        ids.append(start_id + 7 * k)
    return m


def instance_cases():
    out = []
    for (H, W, n) in ((24, 28, 6), (30, 30, 9)):
        gt = instance_map(H, W, n, 3)
        pred = np.zeros_like(gt)
        for k, i in enumerate([i for i in np.unique(gt) if i > 0]):
            if rng.random() < 0.15:
                continue                                          # missed object
            m = np.roll(gt == i, int(rng.integers(-1, 2)), int(rng.integers(0, 2)))
            m = ndimage.binary_dilation(m) if rng.random() < 0.3 else m
            pred[m] = 100 + k
        pred[rng.integers(0, H), :3] = 999                        # a spurious detection
        ref = inst_ref(pred, gt, AP_T)
        ref5 = inst_ref(pred, gt, [0.5])[0]
        ap_curve = [r["tp"] / (r["tp"] + r["fp"] + r["fn"]) for r in ref]
        out.append(dict(shape=[H, W], pred=flat(pred), gt=flat(gt), tp=ref5["tp"], fp=ref5["fp"],
                        fn=ref5["fn"], mean_iou=ref5["mean_iou"], ap=float(np.mean(ap_curve)),
                        ap_curve=ap_curve))
    return out


def main():
    data = dict(confusion=cm_cases(), functional=functional_cases(),
                hausdorff=hausdorff_cases(), saliency=saliency_cases(),
                instances=instance_cases())
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "metrics.lua")
    with open(path, "w") as f:
        f.write("-- generated by spec/ref/gen_metrics.py; do not edit\n")
        f.write("return " + lua_value(data) + "\n")
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
