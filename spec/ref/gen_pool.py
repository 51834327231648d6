#!/usr/bin/python3
"""Reference values for spec/pool_spec.lua and spec/resample_spec.lua, from PyTorch 1.13.

Run from the repo root with Debian's python3-torch:  /usr/bin/python3 spec/ref/gen_pool.py
Writes spec/ref/pool.lua: a list of cases {name, op, opts, inputs, outputs}. Every tensor is
{shape = {...}, data = {flat row-major}}; floats as %.9g. For each case `gy` is a random
upstream gradient and `gx` = d(sum(y * gy))/dx (absent where PyTorch's backward is not the
gradient of its forward). Indices are written 1-based (PyTorch + 1),
lunet's convention.
"""
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
cases = []


def lua_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua_value(e) for e in v) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (k, lua_value(e)) for k, e in sorted(v.items())) + "}"
    if torch.is_tensor(v):
        t = v.detach().contiguous()
        shape = "{" + ", ".join(str(s) for s in t.shape) + "}"
        if t.dtype in (torch.int64, torch.int32):
            data = ", ".join(str(int(e)) for e in t.flatten().tolist())
        else:
            data = ", ".join("%.9g" % e for e in t.flatten().tolist())
        return "{shape = %s, data = {%s}}" % (shape, data)
    raise TypeError(type(v))


def add(name, op, opts, fn, x, extra=None):
    """fn(x) -> y or (y, idx); records y, idx, and gx for a random gy."""
    x = x.clone().requires_grad_(True)
    out = fn(x)
    idx = None
    if isinstance(out, tuple):
        out, idx = out
    gy = torch.randn_like(out)
    (gx,) = torch.autograd.grad(out, x, gy)
    case = {"name": name, "op": op, "opts": opts, "x": x, "y": out, "gy": gy, "gx": gx}
    if idx is not None:
        case["idx"] = idx + 1
    if extra:
        case.update(extra)
    cases.append(case)


def pool_kwargs(o):
    kw = {"kernel_size": o["kernel"]}
    for k in ("stride", "padding", "dilation", "ceil_mode", "count_include_pad", "divisor_override"):
        if k in o:
            kw[k] = o[k]
    return kw


# ---- max_pool2d ----
for name, shape, o in [
    ("2x2 stride 2", (2, 2, 6, 8), {"kernel": 2}),
    ("2x2 stride 2 odd input", (1, 2, 7, 9), {"kernel": 2}),
    ("3x3 stride 2 padding 1", (1, 2, 7, 9), {"kernel": 3, "stride": 2, "padding": 1}),
    ("non-square kernel, stride, padding", (2, 2, 9, 7), {"kernel": (3, 2), "stride": (2, 1), "padding": (1, 0)}),
    ("dilation 2", (1, 2, 9, 9), {"kernel": 3, "stride": 1, "padding": 1, "dilation": 2}),
    ("dilation (2, 1) padding 2", (1, 1, 10, 8), {"kernel": (4, 3), "stride": (2, 3), "padding": (2, 1), "dilation": (2, 1)}),
    ("ceil_mode 3x3 stride 2", (1, 2, 8, 8), {"kernel": 3, "stride": 2, "ceil_mode": True}),
    ("ceil_mode 2x2 odd input padding 1", (1, 2, 7, 6), {"kernel": 2, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("3-D input stride 1", (3, 5, 6), {"kernel": 2, "stride": 1}),
    ("ceil_mode kernel 3 over a 2x2 input", (1, 2, 2, 2), {"kernel": 3, "stride": 2, "ceil_mode": True}),
]:
    add("max_pool2d " + name, "max_pool2d", dict(o, return_indices=True),
        lambda x, o=o: F.max_pool2d(x, return_indices=True, **pool_kwargs(o)), torch.randn(*shape))

# ---- avg_pool2d ----
for name, shape, o in [
    ("2x2 stride 2", (1, 2, 6, 8), {"kernel": 2}),
    ("3x3 stride 2 padding 1 include pad", (1, 2, 7, 9), {"kernel": 3, "stride": 2, "padding": 1}),
    ("3x3 stride 2 padding 1 exclude pad", (1, 2, 7, 9), {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    ("ceil_mode include pad", (1, 2, 8, 7), {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("ceil_mode exclude pad", (1, 2, 8, 7), {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}),
    ("divisor_override", (1, 2, 6, 6), {"kernel": 3, "stride": 2, "padding": 1, "divisor_override": 4}),
    ("non-square", (2, 1, 9, 7), {"kernel": (3, 2), "stride": (1, 2), "padding": (1, 0)}),
    ("3-D input", (3, 5, 6), {"kernel": 2, "stride": 1}),
    ("ceil_mode kernel 3 over a 2x2 input", (1, 2, 2, 2), {"kernel": 3, "stride": 2, "ceil_mode": True}),
]:
    add("avg_pool2d " + name, "avg_pool2d", o,
        lambda x, o=o: F.avg_pool2d(x, **pool_kwargs(o)), torch.randn(*shape))

# ---- max_unpool2d: x = the pooled values, indices from the same pooling ----
for name, shape, o, outsize in [
    ("2x2 stride 2", (2, 2, 4, 6), {"kernel": 2}, None),
    ("2x2 stride 2 output_size {5, 7}", (1, 2, 5, 7), {"kernel": 2}, (5, 7)),
    ("3x3 stride 2 padding 1 full output_size", (1, 2, 7, 8), {"kernel": 3, "stride": 2, "padding": 1}, (1, 2, 7, 8)),
    ("3-D input", (2, 6, 4), {"kernel": 2}, None),
]:
    src = torch.randn(*shape)
    pooled, pidx = F.max_pool2d(src, return_indices=True, **pool_kwargs(o))
    uo = dict(o)
    if outsize is not None:
        uo["output_size"] = outsize
    add("max_unpool2d " + name, "max_unpool2d", uo,
        lambda x, o=o, pidx=pidx, outsize=outsize: F.max_unpool2d(x, pidx, o["kernel"], o.get("stride"), o.get("padding", 0), output_size=outsize),
        pooled, {"idx": pidx + 1})

# ---- adaptive pooling ----
for name, shape, size in [
    ("7x9 -> 3x4", (1, 3, 7, 9), (3, 4)),
    ("global", (2, 3, 5, 6), 1),
    ("5x5 -> 7x3 (upsampling rows)", (1, 2, 5, 5), (7, 3)),
    ("3-D input", (2, 6, 5), (4, 2)),
]:
    add("adaptive_avg_pool2d " + name, "adaptive_avg_pool2d", {"size": size},
        lambda x, size=size: F.adaptive_avg_pool2d(x, size), torch.randn(*shape))
    add("adaptive_max_pool2d " + name, "adaptive_max_pool2d", {"size": size, "return_indices": True},
        lambda x, size=size: F.adaptive_max_pool2d(x, size, return_indices=True), torch.randn(*shape))

# ---- interpolate ----
for name, shape, o in [
    ("nearest size 7x5", (1, 2, 4, 3), {"size": (7, 5), "mode": "nearest"}),
    ("nearest scale 2", (2, 2, 3, 4), {"scale_factor": 2.0, "mode": "nearest"}),
    ("nearest scale 1.7", (1, 2, 5, 4), {"scale_factor": 1.7, "mode": "nearest"}),
    ("nearest scale (0.5, 2.3)", (1, 1, 7, 3), {"scale_factor": (0.5, 2.3), "mode": "nearest"}),
    ("nearest downsample size 3x2", (1, 2, 8, 7), {"size": (3, 2), "mode": "nearest"}),
    ("nearest scale 1.7 recompute", (1, 2, 5, 4), {"scale_factor": 1.7, "mode": "nearest", "recompute_scale_factor": True}),
    # out == in under a scale factor: PyTorch copies for C == 1 (its channels-last kernel)...
    ("nearest scale 1.3 keeping the size, C == 1", (2, 1, 3, 3), {"scale_factor": 1.3, "mode": "nearest"}),
    # ...and uses floor(dst / 1.3) for C > 1, where its backward copies (not the gradient of
    # its forward), so only the values are compared (see add_values_only below)
    ("nearest scale 1.3 keeping the size, C == 2 (values only)", (1, 2, 3, 3), {"scale_factor": 1.3, "mode": "nearest"}),
    ("bilinear scale 2 align_corners false", (2, 2, 5, 6), {"scale_factor": 2.0, "mode": "bilinear", "align_corners": False}),
    ("bilinear scale 2 align_corners true", (1, 2, 5, 6), {"scale_factor": 2.0, "mode": "bilinear", "align_corners": True}),
    ("bilinear size 7x10 align_corners false", (1, 2, 4, 6), {"size": (7, 10), "mode": "bilinear", "align_corners": False}),
    ("bilinear size 7x10 align_corners true", (1, 2, 4, 6), {"size": (7, 10), "mode": "bilinear", "align_corners": True}),
    ("bilinear scale 1.7 align_corners false", (1, 2, 5, 4), {"scale_factor": 1.7, "mode": "bilinear", "align_corners": False}),
    ("bilinear scale 1.7 recompute", (1, 2, 5, 4), {"scale_factor": 1.7, "mode": "bilinear", "align_corners": False, "recompute_scale_factor": True}),
    ("bilinear downsample scale 0.6", (1, 2, 9, 8), {"scale_factor": 0.6, "mode": "bilinear", "align_corners": False}),
    ("bilinear downsample size 3x5 align_corners true", (1, 2, 8, 9), {"size": (3, 5), "mode": "bilinear", "align_corners": True}),
    ("bilinear size 1x1 align_corners true", (1, 2, 4, 5), {"size": (1, 1), "mode": "bilinear", "align_corners": True}),
    ("bilinear same size", (1, 2, 4, 5), {"size": (4, 5), "mode": "bilinear", "align_corners": False}),
    ("bilinear default align_corners, scale (1.5, 3)", (1, 1, 4, 3), {"scale_factor": (1.5, 3.0), "mode": "bilinear"}),
]:
    kw = dict(o)
    if "scale_factor" in kw and isinstance(kw["scale_factor"], tuple):
        kw["scale_factor"] = tuple(kw["scale_factor"])
    if kw.get("mode") == "bilinear" and "align_corners" not in kw:
        kw["align_corners"] = False
    add("interpolate " + name, "interpolate", o,
        lambda x, kw=kw: F.interpolate(x, **kw), torch.randn(*shape))
    if "values only" in name:
        del cases[-1]["gx"]

# ---- pad ----
for name, shape, pads, o in [
    ("constant value 0.5", (1, 2, 3, 4), (1, 2, 0, 3), {"value": 0.5}),
    ("constant default value", (2, 1, 3, 3), (2, 2, 1, 1), {}),
    ("constant negative crops", (1, 2, 5, 6), (-1, 2, 1, -2), {"mode": "constant"}),
    ("constant two sizes", (1, 2, 3, 4), (2, 1), {}),
    ("reflect", (1, 2, 4, 5), (2, 1, 3, 2), {"mode": "reflect"}),
    ("reflect max", (1, 1, 3, 4), (3, 3, 2, 2), {"mode": "reflect"}),
    ("replicate", (2, 2, 3, 4), (3, 0, 2, 4), {"mode": "replicate"}),
    ("circular", (1, 2, 3, 4), (2, 4, 1, 3), {"mode": "circular"}),
    ("reflect 3-D input", (2, 4, 5), (1, 2, 2, 1), {"mode": "reflect"}),
]:
    kw = {"mode": o.get("mode", "constant")}
    if "value" in o:
        kw["value"] = o["value"]
    add("pad " + name, "pad", o, lambda x, pads=pads, kw=kw: F.pad(x, pads, **kw),
        torch.randn(*shape), {"pads": pads})

with open("spec/ref/pool.lua", "w") as f:
    f.write("-- generated by spec/ref/gen_pool.py with PyTorch %s; do not edit\n" % torch.__version__)
    f.write("return {\n")
    for c in cases:
        f.write("  {\n")
        for k in ("name", "op", "opts", "pads", "x", "idx", "y", "gy", "gx"):
            if k in c:
                f.write("    %s = %s,\n" % (k, lua_value(c[k])))
        f.write("  },\n")
    f.write("}\n")
print("wrote %d cases" % len(cases))
