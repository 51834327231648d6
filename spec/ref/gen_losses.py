#!/usr/bin/python3
"""Reference values for spec/losses_spec.lua: loss value and gradient w.r.t. the logits.

Run with Debian's python3 (PyTorch 1.13):  /usr/bin/python3 spec/ref/gen_losses.py
Writes spec/ref/losses.lua. segmentation_models_pytorch is not installed, so its Dice,
Jaccard, Tversky, Focal (binary) and Lovasz formulas are re-implemented below with torch
ops, following smp 0.3 (segmentation_models_pytorch/losses/*.py) line by line. The
multiclass focal loss is the softmax form DESIGN.md fixes. Everything is computed in
float64 from float32 inputs.
"""
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "losses.lua")
IGN = 255


# ---------------------------------------------------------------- smp re-implementations
def soft_dice_score(output, target, smooth=0.0, eps=1e-7, dims=None):
    intersection = torch.sum(output * target, dim=dims)
    cardinality = torch.sum(output + target, dim=dims)
    return (2.0 * intersection + smooth) / (cardinality + smooth).clamp_min(eps)


def soft_jaccard_score(output, target, smooth=0.0, eps=1e-7, dims=None):
    intersection = torch.sum(output * target, dim=dims)
    cardinality = torch.sum(output + target, dim=dims)
    union = cardinality - intersection
    return (intersection + smooth) / (union + smooth).clamp_min(eps)


def soft_tversky_score(output, target, alpha, beta, smooth=0.0, eps=1e-7, dims=None):
    intersection = torch.sum(output * target, dim=dims)
    fp = torch.sum(output * (1.0 - target), dim=dims)
    fn = torch.sum((1 - output) * target, dim=dims)
    return (intersection + smooth) / (intersection + alpha * fp + beta * fn + smooth).clamp_min(eps)


def smp_region(y_pred, y_true, mode, score, classes=None, log_loss=False, from_logits=True,
               smooth=0.0, ignore_index=None, eps=1e-7, aggregate=lambda l: l.mean()):
    """smp DiceLoss.forward with a pluggable compute_score / aggregate_loss."""
    if from_logits:
        if mode == "multiclass":
            y_pred = y_pred.log_softmax(dim=1).exp()
        else:
            y_pred = F.logsigmoid(y_pred).exp()
    bs = y_true.size(0)
    num_classes = y_pred.size(1)
    dims = (0, 2)
    if mode == "binary":
        y_true = y_true.view(bs, 1, -1)
        y_pred = y_pred.view(bs, 1, -1)
        if ignore_index is not None:
            mask = y_true != ignore_index
            y_pred = y_pred * mask
            y_true = y_true * mask
    if mode == "multiclass":
        y_true = y_true.view(bs, -1)
        y_pred = y_pred.view(bs, num_classes, -1)
        if ignore_index is not None:
            mask = y_true != ignore_index
            y_pred = y_pred * mask.unsqueeze(1)
            y_true = F.one_hot((y_true * mask).to(torch.long), num_classes)
            y_true = y_true.permute(0, 2, 1) * mask.unsqueeze(1)
        else:
            y_true = F.one_hot(y_true.long(), num_classes)
            y_true = y_true.permute(0, 2, 1)
    if mode == "multilabel":
        y_true = y_true.view(bs, num_classes, -1)
        y_pred = y_pred.view(bs, num_classes, -1)
        if ignore_index is not None:
            mask = y_true != ignore_index
            y_pred = y_pred * mask
            y_true = y_true * mask
    scores = score(y_pred, y_true.type_as(y_pred), smooth=smooth, eps=eps, dims=dims)
    if log_loss:
        loss = -torch.log(scores.clamp_min(eps))
    else:
        loss = 1.0 - scores
    mask = y_true.sum(dims) > 0
    loss = loss * mask.to(loss.dtype)
    if classes is not None:
        loss = loss[torch.tensor(classes, dtype=torch.long)]
    return aggregate(loss)


def focal_loss_with_logits(output, target, gamma=2.0, alpha=0.25):
    target = target.type(output.type())
    logpt = F.binary_cross_entropy_with_logits(output, target, reduction="none")
    pt = torch.exp(-logpt)
    focal_term = (1.0 - pt).pow(gamma)
    loss = focal_term * logpt
    if alpha is not None:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss.mean()


def smp_focal_binary(y_pred, y_true, alpha=None, gamma=2.0, ignore_index=None):
    y_true = y_true.reshape(-1)
    y_pred = y_pred.reshape(-1)
    if ignore_index is not None:
        not_ignored = y_true != ignore_index
        y_pred = y_pred[not_ignored]
        y_true = y_true[not_ignored]
    return focal_loss_with_logits(y_pred, y_true, gamma=gamma, alpha=alpha)


def focal_softmax(logits, target, gamma=2.0, alpha=None, ignore_index=None):
    """DESIGN.md: -alpha_y (1 - p_y)^gamma log p_y averaged over non-ignored pixels."""
    logp = logits.log_softmax(1)
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    t = torch.where(valid, target, torch.zeros_like(target)).long()
    logpt = logp.gather(1, t.unsqueeze(1)).squeeze(1)
    loss = -(1 - logpt.exp()).pow(gamma) * logpt
    if alpha is not None:
        loss = loss * torch.tensor(alpha, dtype=logits.dtype)[t]
    return loss[valid].mean()


def lovasz_grad(gt_sorted):
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.double().cumsum(0)
    union = gts + (1 - gt_sorted).double().cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def smp_mean(values):
    values = iter(values)
    try:
        n = 1
        acc = next(values)
    except StopIteration:
        return 0
    for n, v in enumerate(values, 2):
        acc += v
    if n == 1:
        return acc
    return acc / n


def lovasz_hinge_flat(logits, labels):
    if len(labels) == 0:
        return logits.sum() * 0.0
    signs = 2.0 * labels.float() - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    gt_sorted = labels[perm.data]
    grad = lovasz_grad(gt_sorted).to(logits.dtype)
    return torch.dot(F.relu(errors_sorted), grad)


def flatten_binary_scores(scores, labels, ignore=None):
    scores = scores.reshape(-1)
    labels = labels.reshape(-1)
    if ignore is None:
        return scores, labels
    valid = labels != ignore
    return scores[valid], labels[valid]


def lovasz_hinge(logits, labels, per_image=True, ignore=None):
    if per_image:
        return smp_mean(lovasz_hinge_flat(*flatten_binary_scores(log.unsqueeze(0), lab.unsqueeze(0), ignore))
                        for log, lab in zip(logits, labels))
    return lovasz_hinge_flat(*flatten_binary_scores(logits, labels, ignore))


def flatten_probas(probas, labels, ignore=None):
    C = probas.size(1)
    probas = torch.movedim(probas, 1, -1).contiguous().view(-1, C)
    labels = labels.reshape(-1)
    if ignore is None:
        return probas, labels
    valid = labels != ignore
    return probas[valid], labels[valid]


def lovasz_softmax_flat(probas, labels):
    if probas.numel() == 0:
        return probas * 0.0
    C = probas.size(1)
    losses = []
    for c in range(C):
        fg = (labels == c).type_as(probas)
        if fg.sum() == 0:
            continue
        errors = (fg - probas[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        fg_sorted = fg[perm.data]
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg_sorted)))
    return smp_mean(losses)


def lovasz_softmax(probas, labels, per_image=False, ignore=None):
    if per_image:
        return smp_mean(lovasz_softmax_flat(*flatten_probas(prob.unsqueeze(0), lab.unsqueeze(0), ignore))
                        for prob, lab in zip(probas, labels))
    return lovasz_softmax_flat(*flatten_probas(probas, labels, ignore))


# ---------------------------------------------------------------- cases
def logits_of(shape, scale=2.0):
    return (torch.randn(*shape) * scale).float()


def labels_of(shape, C, ignore_frac=0.0, absent=None):
    y = torch.randint(0, C, shape, dtype=torch.int32)
    if absent is not None:
        y[y == absent] = (absent + 1) % C
    if ignore_frac > 0:
        y[torch.rand(shape) < ignore_frac] = IGN
    return y


def binary_of(shape, ignore_frac=0.0):
    y = (torch.rand(shape) < 0.4).float()
    if ignore_frac > 0:
        y[torch.rand(shape) < ignore_frac] = IGN
    return y


cases = []


def add(name, fn, opts, x, y, f, reduction_none=False):
    xd = x.double().requires_grad_(True)
    yd = y if y.dtype != torch.float32 else y.double()
    v = f(xd, yd)
    total = v.sum() if reduction_none else v
    total.backward()
    cases.append(dict(name=name, fn=fn, opts=opts, x=x, y=y, value=v.detach(), grad=xd.grad.detach()))


N, C, H, W = 2, 4, 3, 5
# cross entropy
x = logits_of((N, C, H, W)); y = labels_of((N, H, W), C)
add("ce plain", "cross_entropy", {}, x, y, lambda a, b: F.cross_entropy(a, b.long()))
w = [0.5, 2.0, 1.0, 1.5]
x = logits_of((N, C, H, W)); y = labels_of((N, H, W), C, 0.25)
wt = torch.tensor(w, dtype=torch.float64)
add("ce weight ignore", "cross_entropy", {"weight": w, "ignore_index": IGN}, x, y,
    lambda a, b: F.cross_entropy(a, b.long(), weight=wt, ignore_index=IGN))
add("ce weight ignore smoothing", "cross_entropy", {"weight": w, "ignore_index": IGN, "label_smoothing": 0.1},
    x, y, lambda a, b: F.cross_entropy(a, b.long(), weight=wt, ignore_index=IGN, label_smoothing=0.1))
add("ce smoothing ignore", "cross_entropy", {"ignore_index": IGN, "label_smoothing": 0.2},
    x, y, lambda a, b: F.cross_entropy(a, b.long(), ignore_index=IGN, label_smoothing=0.2))
add("ce sum ignore", "cross_entropy", {"ignore_index": IGN, "reduction": "sum", "weight": w}, x, y,
    lambda a, b: F.cross_entropy(a, b.long(), weight=wt, ignore_index=IGN, reduction="sum"))
add("ce none smoothing weight", "cross_entropy",
    {"ignore_index": IGN, "reduction": "none", "label_smoothing": 0.1, "weight": w}, x, y,
    lambda a, b: F.cross_entropy(a, b.long(), weight=wt, ignore_index=IGN, reduction="none",
                                 label_smoothing=0.1), reduction_none=True)
x2 = logits_of((5, 3)); y2 = torch.tensor([0, 2, 1, 1, 0], dtype=torch.int32)
add("ce 2d logits", "cross_entropy", {}, x2, y2, lambda a, b: F.cross_entropy(a, b.long()))
x3 = logits_of((2, 3, 2, 2, 3)); y3 = labels_of((2, 2, 2, 3), 3, 0.2)
add("ce 3d volume", "cross_entropy", {"ignore_index": IGN}, x3, y3,
    lambda a, b: F.cross_entropy(a, b.long(), ignore_index=IGN))
# a big block-crossing case for the fused kernel: S = 100 > 64
x4 = logits_of((2, 3, 10, 10)); y4 = labels_of((2, 10, 10), 3, 0.1)
add("ce multi-block", "cross_entropy", {"ignore_index": IGN, "label_smoothing": 0.05}, x4, y4,
    lambda a, b: F.cross_entropy(a, b.long(), ignore_index=IGN, label_smoothing=0.05))

# BCE with logits
xb = logits_of((N, 3, H, W)); yb = binary_of((N, 3, H, W))
add("bce plain", "binary_cross_entropy_with_logits", {}, xb, yb,
    lambda a, b: F.binary_cross_entropy_with_logits(a, b))
pw = [2.0, 0.5, 3.0]
pwt = torch.tensor(pw, dtype=torch.float64).view(3, 1, 1)
add("bce pos_weight per channel", "binary_cross_entropy_with_logits", {"pos_weight": pw}, xb, yb,
    lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=pwt))
add("bce pos_weight weight sum", "binary_cross_entropy_with_logits",
    {"pos_weight": pw, "weight": [1.0, 0.25, 2.0], "reduction": "sum"}, xb, yb,
    lambda a, b: F.binary_cross_entropy_with_logits(
        a, b, pos_weight=pwt, weight=torch.tensor([1.0, 0.25, 2.0], dtype=torch.float64).view(3, 1, 1),
        reduction="sum"))

# Dice / Jaccard / Tversky
xm = logits_of((N, C, H, W)); ym = labels_of((N, H, W), C, 0.2, absent=2)   # class 2 absent
xbin = logits_of((N, 1, H, W)); ybin = binary_of((N, 1, H, W), 0.2)
xml = logits_of((N, 3, H, W)); yml = binary_of((N, 3, H, W))
yml[:, 1] = 0   # an empty label channel
for nm, fn, score in (("dice", "dice_loss", soft_dice_score), ("jaccard", "jaccard_loss", soft_jaccard_score)):
    add(nm + " multiclass", fn, {"mode": "multiclass"}, xm, labels_of((N, H, W), C, 0.0, absent=1),
        lambda a, b, s=score: smp_region(a, b, "multiclass", s))
    add(nm + " multiclass ignore absent class", fn, {"mode": "multiclass", "ignore_index": IGN}, xm, ym,
        lambda a, b, s=score: smp_region(a, b, "multiclass", s, ignore_index=IGN))
    add(nm + " multiclass smooth log_loss classes", fn,
        {"mode": "multiclass", "ignore_index": IGN, "smooth": 1.0, "log_loss": True, "classes": [0, 2, 3]},
        xm, ym, lambda a, b, s=score: smp_region(a, b, "multiclass", s, ignore_index=IGN, smooth=1.0,
                                                log_loss=True, classes=[0, 2, 3]))
    add(nm + " binary ignore", fn, {"mode": "binary", "ignore_index": IGN}, xbin, ybin,
        lambda a, b, s=score: smp_region(a, b, "binary", s, ignore_index=IGN))
    add(nm + " multilabel empty channel", fn, {"mode": "multilabel", "smooth": 0.5}, xml, yml,
        lambda a, b, s=score: smp_region(a, b, "multilabel", s, smooth=0.5))


def tversky(alpha, beta, gamma):
    return dict(score=lambda o, t, smooth, eps, dims: soft_tversky_score(o, t, alpha, beta, smooth, eps, dims),
                aggregate=lambda l: l.mean() ** gamma)


tv = tversky(0.3, 0.7, 1.5)
add("tversky multiclass ignore", "tversky_loss",
    {"mode": "multiclass", "ignore_index": IGN, "alpha": 0.3, "beta": 0.7, "gamma": 1.5}, xm, ym,
    lambda a, b: smp_region(a, b, "multiclass", tv["score"], ignore_index=IGN, aggregate=tv["aggregate"]))
tv1 = tversky(0.5, 0.5, 1.0)
add("tversky binary default", "tversky_loss", {"mode": "binary"}, xbin, (ybin == 1).float(),
    lambda a, b: smp_region(a, b, "binary", tv1["score"], aggregate=tv1["aggregate"]))

# Focal
xf = logits_of((N, C, H, W)); yf = labels_of((N, H, W), C, 0.2)
add("focal multiclass ignore", "focal_loss", {"mode": "multiclass", "ignore_index": IGN}, xf, yf,
    lambda a, b: focal_softmax(a, b, gamma=2.0, ignore_index=IGN))
add("focal multiclass alpha gamma", "focal_loss",
    {"mode": "multiclass", "ignore_index": IGN, "gamma": 1.5, "alpha": [0.25, 0.5, 1.0, 0.75]}, xf, yf,
    lambda a, b: focal_softmax(a, b, gamma=1.5, alpha=[0.25, 0.5, 1.0, 0.75], ignore_index=IGN))
add("focal binary alpha ignore", "focal_loss", {"mode": "binary", "alpha": 0.25, "ignore_index": IGN},
    xbin, ybin, lambda a, b: smp_focal_binary(a, b, alpha=0.25, ignore_index=IGN))
add("focal multilabel", "focal_loss", {"mode": "multilabel", "gamma": 3}, xml, yml,
    lambda a, b: smp_focal_binary(a, b, gamma=3.0))

# Lovasz
xl = logits_of((N, C, H, W)); yl = labels_of((N, H, W), C, 0.2)
yl[1][yl[1] == 3] = 0   # class 3 absent from image 2
add("lovasz softmax ignore", "lovasz_loss", {"mode": "multiclass", "ignore_index": IGN}, xl, yl,
    lambda a, b: lovasz_softmax(a.softmax(1), b, per_image=False, ignore=IGN))
add("lovasz softmax per_image", "lovasz_loss", {"mode": "multiclass", "ignore_index": IGN, "per_image": True},
    xl, yl, lambda a, b: lovasz_softmax(a.softmax(1), b, per_image=True, ignore=IGN))
add("lovasz hinge ignore", "lovasz_loss", {"mode": "binary", "ignore_index": IGN}, xbin, ybin,
    lambda a, b: lovasz_hinge(a, b, per_image=False, ignore=IGN))
add("lovasz hinge per_image", "lovasz_loss", {"mode": "binary", "per_image": True}, xbin, (ybin == 1).float(),
    lambda a, b: lovasz_hinge(a, b, per_image=True))
add("lovasz hinge multilabel", "lovasz_loss", {"mode": "multilabel"}, xml, yml,
    lambda a, b: lovasz_hinge(a, b, per_image=False))


# ---------------------------------------------------------------- output
def lua_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int,)):
        return str(v)
    if isinstance(v, float):
        return "%.9g" % v
    if isinstance(v, str):
        return '"%s"' % v
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua_value(e) for e in v) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (k, lua_value(v[k])) for k in sorted(v)) + "}"
    raise TypeError(v)


def flat(t):
    return [float(e) if t.dtype.is_floating_point else int(e) for e in t.reshape(-1).tolist()]


with open(OUT, "w") as f:
    f.write("-- generated by spec/ref/gen_losses.py (PyTorch %s); do not edit\n" % torch.__version__)
    f.write("return {\n")
    for c in cases:
        ydt = "float32" if c["y"].dtype == torch.float32 else "int32"
        f.write("  {\n")
        f.write("    name = %s, fn = %s, opts = %s,\n" % (lua_value(c["name"]), lua_value(c["fn"]), lua_value(c["opts"])))
        f.write("    x_shape = %s, x = %s,\n" % (lua_value(list(c["x"].shape)), lua_value(flat(c["x"]))))
        f.write("    y_shape = %s, y_dtype = %s, y = %s,\n" % (lua_value(list(c["y"].shape)), lua_value(ydt), lua_value(flat(c["y"]))))
        f.write("    value_shape = %s, value = %s,\n" % (lua_value(list(c["value"].shape)), lua_value(flat(c["value"]))))
        f.write("    grad = %s,\n" % lua_value(flat(c["grad"])))
        f.write("  },\n")
    f.write("}\n")
print("wrote", OUT, len(cases), "cases", os.path.getsize(OUT), "bytes")
