"""Writes spec/ref/volume_kernels.lua: PyTorch 1.13 reference values and gradients of the 3-D
kernels (conv3d, conv_transpose3d, max/avg/adaptive pooling, max_unpool3d, interpolate
nearest/trilinear, batch_norm / group_norm on 5-D input, instance_norm, prelu).
Run from the repo root with Debian's torch: /usr/bin/python3 spec/ref/gen_volume_kernels.py

Each case: name, op, opts (as lunet takes them), the inputs (x, and w, b, ... where the op has
them), gy (the upstream gradient), then y = op(...) and the gradients of sum(y * gy): gx, gw,
gb. Tensors are {shape=, data=}; max pooling also gives idx (1-based, lunet's convention);
norms with running statistics give rm, rv (their values after the call)."""
import torch
import torch.nn.functional as F

torch.manual_seed(31)


def R(*s):
    return torch.randn(*s)


def lua(v):
    if isinstance(v, torch.Tensor):
        t = v.detach().contiguous()
        data = t.reshape(-1).tolist()
        if t.dtype.is_floating_point:
            items = ",".join("%.9g" % d for d in data)
            dtype = "float32"
        else:
            items = ",".join(str(int(d)) for d in data)
            dtype = "int32"
        return "{shape={%s}, dtype=\"%s\", data={%s}}" % (",".join(str(s) for s in t.shape), dtype, items)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"%s"' % v
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua(x) for x in v) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join("%s=%s" % (k, lua(x)) for k, x in v.items()) + "}"
    raise TypeError(type(v))


CASES = []


def case(name, op, opts, inputs, fn, extra=None):
    """inputs: dict name -> tensor (float ones get gradients); fn(**inputs) -> y (or (y, idx))."""
    leaves = {}
    for k, t in inputs.items():
        if t is not None and t.dtype.is_floating_point and k in ("x", "w", "b"):
            leaves[k] = t.clone().requires_grad_(True)
        else:
            leaves[k] = t
    out = fn(**leaves)
    idx = None
    if isinstance(out, tuple):
        out, idx = out
    gy = torch.randn(out.shape)
    (out * gy).sum().backward()
    c = {"name": name, "op": op, "opts": opts}
    for k, t in inputs.items():
        if t is not None:
            c[k] = t
    c["gy"] = gy
    c["y"] = out
    for k in ("x", "w", "b"):
        if k in leaves and isinstance(leaves[k], torch.Tensor) and leaves[k].grad is not None:
            c["g" + k] = leaves[k].grad
    if idx is not None:
        c["idx"] = (idx + 1).to(torch.int32)
    if extra:
        c.update(extra)
    CASES.append(c)


def t3(v):
    return list(v) if isinstance(v, (list, tuple)) else v


# ---- conv3d
for name, xs, ws, bias, o in [
    ("conv3d 3x3x3 padding 1", (2, 3, 5, 6, 4), (4, 3, 3, 3, 3), True, dict(padding=1)),
    ("conv3d stride (2,1,2) padding (1,0,1) kernel (3,2,3)", (2, 2, 7, 5, 6), (3, 2, 3, 2, 3), True,
     dict(stride=(2, 1, 2), padding=(1, 0, 1))),
    ("conv3d dilation 2 padding 2", (1, 2, 6, 7, 5), (3, 2, 3, 3, 3), True, dict(padding=2, dilation=2)),
    ("conv3d groups 2 stride 2", (2, 4, 6, 5, 7), (6, 2, 3, 3, 3), True, dict(stride=2, groups=2, padding=1)),
    ("conv3d depthwise", (1, 4, 5, 4, 6), (4, 1, 3, 3, 3), True, dict(padding=1, groups=4)),
    ("conv3d 1x1x1 no bias", (2, 5, 3, 4, 3), (3, 5, 1, 1, 1), False, {}),
    ("conv3d 2x2x2 stride 2 (V-Net down)", (2, 2, 4, 6, 4), (4, 2, 2, 2, 2), True, dict(stride=2)),
    ("conv3d unbatched 5x5x5 padding 2", (2, 5, 5, 6), (3, 2, 5, 5, 5), True, dict(padding=2)),
]:
    x, w, b = R(*xs), R(*ws), (R(ws[0]) if bias else None)
    opts = {k: t3(v) for k, v in o.items()}
    case(name, "conv3d", opts, {"x": x, "w": w, "b": b},
         lambda x, w, b, o=o: F.conv3d(x, w, b, **o))

# ---- conv_transpose3d
for name, xs, ws, bias, o in [
    ("conv_transpose3d 2x2x2 stride 2 (U-Net up)", (2, 4, 3, 4, 3), (4, 2, 2, 2, 2), True, dict(stride=2)),
    ("conv_transpose3d stride 2 padding 1 output_padding 1", (1, 3, 3, 4, 3), (3, 2, 3, 3, 3), True,
     dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose3d groups 2 dilation 2 output_padding (1,0,1)", (1, 4, 3, 3, 4), (4, 3, 3, 2, 3), True,
     dict(stride=(2, 1, 2), groups=2, dilation=2, output_padding=(1, 0, 1))),
    ("conv_transpose3d no bias, stride (1,2,3)", (2, 2, 3, 3, 2), (2, 3, 2, 3, 2), False,
     dict(stride=(1, 2, 3), padding=(0, 1, 0))),
]:
    x, w, b = R(*xs), R(*ws), (R(ws[1] * o.get("groups", 1)) if bias else None)
    opts = {k: t3(v) for k, v in o.items()}
    case(name, "conv_transpose3d", opts, {"x": x, "w": w, "b": b},
         lambda x, w, b, o=o: F.conv_transpose3d(x, w, b, **o))

# ---- max_pool3d (with indices)
for name, xs, o in [
    ("max_pool3d 2", (2, 3, 6, 4, 8), dict(kernel_size=2)),
    ("max_pool3d 3 stride 2 padding 1 ceil_mode", (1, 2, 7, 6, 5), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("max_pool3d kernel (2,3,2) dilation 2", (2, 2, 7, 8, 6), dict(kernel_size=(2, 3, 2), dilation=2, stride=(1, 2, 2))),
    ("max_pool3d unbatched odd sizes", (3, 5, 7, 3), dict(kernel_size=2)),
]:
    o2 = dict(o)
    opts = {"kernel": t3(o2.pop("kernel_size"))}
    for k, v in o2.items():
        opts[k] = t3(v)
    opts["return_indices"] = True
    x = R(*xs)
    case(name, "max_pool3d", opts, {"x": x},
         lambda x, o=o: (lambda r: (r[0], r[1]))(F.max_pool3d(x, return_indices=True, **o)))

# ---- max_unpool3d
x = R(2, 2, 6, 4, 6)
p, i = F.max_pool3d(x, 2, return_indices=True)
case("max_unpool3d 2 output_size", "max_unpool3d", {"kernel": 2, "output_size": [7, 5, 6]},
     {"x": p.detach(), "indices": (i + 1).to(torch.int32)},
     lambda x, indices, i=i: F.max_unpool3d(x, i, 2, output_size=[7, 5, 6]))

# ---- avg_pool3d
for name, xs, o in [
    ("avg_pool3d 2", (2, 3, 4, 6, 4), dict(kernel_size=2)),
    ("avg_pool3d 3 stride 2 padding 1 count_include_pad false", (1, 2, 7, 5, 6),
     dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg_pool3d 3 stride 2 padding 1 ceil_mode", (1, 2, 6, 7, 5),
     dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool3d (2,3,2) divisor_override 5", (2, 1, 5, 6, 4),
     dict(kernel_size=(2, 3, 2), stride=(1, 2, 1), divisor_override=5)),
]:
    o2 = dict(o)
    opts = {"kernel": t3(o2.pop("kernel_size"))}
    for k, v in o2.items():
        opts[k] = t3(v)
    case(name, "avg_pool3d", opts, {"x": R(*xs)}, lambda x, o=o: F.avg_pool3d(x, **o))

# ---- adaptive_avg_pool3d
for name, xs, size in [
    ("adaptive_avg_pool3d (3,2,5) from (7,5,9)", (2, 2, 7, 5, 9), (3, 2, 5)),
    ("adaptive_avg_pool3d 1 (global)", (2, 3, 4, 3, 5), 1),
    ("adaptive_avg_pool3d upsampling (4,6,3) from (3,4,2)", (1, 2, 3, 4, 2), (4, 6, 3)),
]:
    case(name, "adaptive_avg_pool3d", {"size": t3(size)}, {"x": R(*xs)},
         lambda x, size=size: F.adaptive_avg_pool3d(x, size))

# ---- interpolate
for name, xs, o in [
    ("trilinear size (7,5,9) align_corners false", (2, 2, 4, 3, 5), dict(size=(7, 5, 9), mode="trilinear", align_corners=False)),
    ("trilinear scale 2 align_corners true", (1, 3, 3, 4, 2), dict(scale_factor=2, mode="trilinear", align_corners=True)),
    ("trilinear scale (1.7,0.6,2.5)", (1, 2, 5, 6, 3), dict(scale_factor=(1.7, 0.6, 2.5), mode="trilinear", align_corners=False)),
    ("trilinear downsample size (2,3,2)", (2, 1, 5, 7, 4), dict(size=(2, 3, 2), mode="trilinear", align_corners=False)),
    ("nearest size (7,4,9)", (2, 2, 3, 5, 4), dict(size=(7, 4, 9), mode="nearest")),
    ("nearest scale 2", (1, 3, 3, 2, 4), dict(scale_factor=2, mode="nearest")),
    ("nearest scale 0.5 (C = 1)", (2, 1, 6, 4, 8), dict(scale_factor=0.5, mode="nearest")),
    ("nearest scale (2.1,1.5,3) C = 1", (1, 1, 5, 4, 3), dict(scale_factor=(2.1, 1.5, 3.0), mode="nearest")),
]:
    opts = {k: t3(v) for k, v in o.items()}
    case(name, "interpolate", opts, {"x": R(*xs)}, lambda x, o=o: F.interpolate(x, **o))

# ---- norms on 5-D input
x = R(3, 4, 3, 4, 5) * 2 + 1
w, b = R(4), R(4)
rm, rv = R(4) * 0.1, torch.rand(4) + 0.5
rm2, rv2 = rm.clone(), rv.clone()
case("batch_norm 5-D training", "batch_norm", {"training": True, "momentum": 0.2, "eps": 1e-5},
     {"x": x, "w": w, "b": b, "rm0": rm.clone(), "rv0": rv.clone()},
     lambda x, w, b, rm0, rv0: F.batch_norm(x, rm2, rv2, w, b, training=True, momentum=0.2, eps=1e-5),
     extra={"rm": rm2, "rv": rv2})
case("batch_norm 5-D eval", "batch_norm", {"training": False},
     {"x": R(2, 3, 2, 3, 4), "w": R(3), "b": R(3), "rm0": R(3), "rv0": torch.rand(3) + 0.5},
     lambda x, w, b, rm0, rv0: F.batch_norm(x, rm0, rv0, w, b, training=False))
case("group_norm 5-D", "group_norm", {"groups": 2, "eps": 1e-5},
     {"x": R(2, 6, 3, 2, 4) * 3, "w": R(6), "b": R(6)},
     lambda x, w, b: F.group_norm(x, 2, w, b, eps=1e-5))
rm, rv = R(4) * 0.1, torch.rand(4) + 0.5
rm3, rv3 = rm.clone(), rv.clone()
case("instance_norm affine with running stats", "instance_norm", {"momentum": 0.3},
     {"x": R(2, 4, 3, 4, 2) * 2 - 1, "w": R(4), "b": R(4), "rm0": rm.clone(), "rv0": rv.clone()},
     lambda x, w, b, rm0, rv0: F.instance_norm(x, rm3, rv3, w, b, use_input_stats=True, momentum=0.3),
     extra={"rm": rm3, "rv": rv3})
case("instance_norm plain", "instance_norm", {"eps": 1e-3}, {"x": R(2, 3, 2, 3, 4)},
     lambda x: F.instance_norm(x, eps=1e-3))
case("instance_norm running stats (eval)", "instance_norm", {"use_input_stats": False},
     {"x": R(2, 3, 2, 2, 3), "rm0": R(3), "rv0": torch.rand(3) + 0.5},
     lambda x, rm0, rv0: F.instance_norm(x, rm0, rv0, use_input_stats=False))

# ---- prelu
case("prelu per channel 5-D", "prelu", {}, {"x": R(2, 3, 2, 3, 2), "w": torch.rand(3)},
     lambda x, w: F.prelu(x, w))
case("prelu shared", "prelu", {}, {"x": R(2, 2, 3, 2, 2), "w": torch.tensor([0.3])},
     lambda x, w: F.prelu(x, w))

with open("spec/ref/volume_kernels.lua", "w") as f:
    f.write("-- generated by spec/ref/gen_volume_kernels.py with torch %s; do not edit\n" % torch.__version__)
    f.write("return {\n")
    for c in CASES:
        f.write("  " + lua(c) + ",\n")
    f.write("}\n")
print("%d cases" % len(CASES))
