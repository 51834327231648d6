#!/usr/bin/python3
"""lunet-weights: move weights between PyTorch (.pth / .pt) and lunet (.safetensors).

  lunet-weights.py to-lunet model.pth model.safetensors [--key state_dict] [--model unet --config '{...}']
  lunet-weights.py to-torch model.safetensors model.pth [--prefix model.]
  lunet-weights.py info FILE

Runs with Debian's python3 and python3-torch only (the safetensors format is written and
read here by hand: 8-byte little-endian header length, a JSON header, raw little-endian
data). `info` needs no torch.

Names. lunet numbers the children of Sequential/ModuleList from 1 (Lua indices), PyTorch
from 0, so every all-digit component of a name is shifted: to-lunet adds 1
("features.0.weight" -> "features.1.weight"), to-torch subtracts 1. This is exactly what
lunet's state_dict{index_base = 0} / load_state_dict(sd, {index_base = 0}) do, so
--no-index-shift writes PyTorch's names unchanged for loading with index_base = 0.

dtypes. float32 stays F32; float16, bfloat16 and float64 become F32 (lunet computes in
float32); int64 is written as I64 (lunet reads it as int32 when every value fits, as
BatchNorm's num_batches_tracked); int32 I32, uint8 U8, bool BOOL. to-torch turns I32
num_batches_tracked back into int64, as PyTorch's BatchNorm keeps it.

Inputs of to-lunet: a state dict, a checkpoint dict holding one under --key (default: the
first of state_dict, model_state_dict, model, net that is a dict of tensors), or a whole
pickled nn.Module (its class must be importable). A "module." prefix on every name
(DataParallel / DistributedDataParallel) is removed. --model NAME --config LITERAL add the
metadata lunet.predict.load_model reads (model name under lunet.models, its options as a
Lua table literal), so `lunet predict` can use the file directly.
Inputs of to-torch: a lunet state dict file, or a lunet.train.fit checkpoint (its
"model.<name>" tensors; --prefix chooses another prefix).

Exit status: 0 done, 1 failed (message on stderr), 2 usage error.
"""
import argparse
import collections
import json
import os
import re
import struct
import sys

DTYPES = {  # safetensors name -> (numpy type string, bytes per element)
    "F32": ("<f4", 4), "F64": ("<f8", 8), "F16": ("<f2", 2), "I64": ("<i8", 8), "I32": ("<i4", 4),
    "I16": ("<i2", 2), "I8": ("i1", 1), "U8": ("u1", 1), "BOOL": ("?", 1),
}


class Failure(Exception):
    pass


def shift_name(name, delta):
    """Adds delta to every all-digit component of a dotted name (lunet's shift_name)."""
    if delta == 0:
        return name

    def one(m):
        v = int(m.group(1)) + delta
        if v < 0:
            raise Failure("name '%s' has index %s, below the first index: is it already numbered from 0?"
                          % (name, m.group(1)))
        return "." + str(v)
    return re.sub(r"\.(\d+)", one, "." + name)[1:]


def read_safetensors(path):
    """-> (OrderedDict name -> (dtype, shape, bytes) in file order, metadata dict)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise Failure("cannot read '%s': %s" % (path, e.strerror))
    if len(raw) < 8:
        raise Failure("'%s' is not a safetensors file (%d bytes)" % (path, len(raw)))
    n = struct.unpack("<Q", raw[:8])[0]
    if n > len(raw) - 8:
        raise Failure("'%s': header length %d exceeds the file size %d" % (path, n, len(raw)))
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=collections.OrderedDict)
    except (ValueError, UnicodeDecodeError) as e:
        raise Failure("'%s': malformed JSON header (%s)" % (path, e))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", None) or {}
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    out = collections.OrderedDict()
    for name, h in entries:
        dt, shape, (b, e) = h["dtype"], h["shape"], h["data_offsets"]
        if dt not in DTYPES:
            raise Failure("'%s': tensor '%s' has dtype %s, which this tool does not read" % (path, name, dt))
        count = 1
        for s in shape:
            count *= s
        if e - b != count * DTYPES[dt][1] or e > len(data) or b < 0:
            raise Failure("'%s': tensor '%s' has offsets [%d, %d) that do not fit its shape %s (%s)"
                          % (path, name, b, e, shape, dt))
        out[name] = (dt, list(shape), data[b:e])
    return out, meta


def write_safetensors(path, tensors, meta):
    """tensors: list of (name, dtype, shape, bytes). Written atomically (temporary file, rename)."""
    header = collections.OrderedDict()
    if meta:
        header["__metadata__"] = collections.OrderedDict((str(k), str(v)) for k, v in meta.items())
    off = 0
    for name, dt, shape, data in tensors:
        header[name] = collections.OrderedDict([("dtype", dt), ("shape", list(shape)),
                                                ("data_offsets", [off, off + len(data)])])
        off += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp%d" % os.getpid()
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _, _, _, data in tensors:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise Failure("cannot write '%s': %s" % (path, e.strerror))


def need_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        raise Failure("this command needs PyTorch: apt-get install python3-torch (and run with /usr/bin/python3)")
    return torch


def tensor_bytes(name, t):
    """torch tensor -> (dtype, shape, little-endian bytes) in a type lunet reads."""
    torch = need_torch()
    t = t.detach().cpu().contiguous()
    if t.dtype in (torch.float16, torch.bfloat16, torch.float64):
        t = t.to(torch.float32)
    table = {torch.float32: ("F32", "<f4"), torch.int64: ("I64", "<i8"), torch.int32: ("I32", "<i4"),
             torch.int16: ("I32", "<i4"), torch.int8: ("I32", "<i4"), torch.uint8: ("U8", "u1"),
             torch.bool: ("BOOL", "?")}
    if t.dtype not in table:
        raise Failure("tensor '%s' has dtype %s, which lunet cannot store" % (name, t.dtype))
    dt, np_type = table[t.dtype]
    if t.dtype in (torch.int16, torch.int8):
        t = t.to(torch.int32)
    return dt, list(t.shape), t.numpy().astype(np_type, copy=False).tobytes()


def find_state_dict(obj, key):
    torch = need_torch()

    def is_sd(d):
        return isinstance(d, dict) and len(d) > 0 and all(isinstance(v, torch.Tensor) for v in d.values())
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            raise Failure("the file has no entry '%s' (top-level keys: %s)"
                          % (key, ", ".join(map(str, obj.keys())) if isinstance(obj, dict) else type(obj).__name__))
        obj = obj[key]
        if isinstance(obj, torch.nn.Module):
            return obj.state_dict()
        if not is_sd(obj):
            raise Failure("entry '%s' is not a dict of tensors" % key)
        return obj
    if is_sd(obj):
        return obj
    if isinstance(obj, dict):
        for k in ("state_dict", "model_state_dict", "model", "net"):
            if k in obj and (is_sd(obj[k]) or isinstance(obj[k], torch.nn.Module)):
                return find_state_dict(obj[k], None)
        raise Failure("no state dict found (top-level keys: %s); choose one with --key"
                      % ", ".join(map(str, obj.keys())))
    raise Failure("the file holds a %s, not a state dict or a module" % type(obj).__name__)


def to_lunet(a):
    torch = need_torch()
    if not os.path.exists(a.input):
        raise Failure("cannot read '%s': No such file or directory" % a.input)
    try:
        obj = torch.load(a.input, map_location="cpu", weights_only=not a.unsafe)
    except TypeError:  # a torch without weights_only
        obj = torch.load(a.input, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - pickle errors of every kind
        raise Failure("cannot load '%s' with torch.load: %s%s" % (
            a.input, str(e).splitlines()[0] if str(e) else type(e).__name__,
            "" if a.unsafe else " (a pickled module needs --unsafe: it runs the file's code)"))
    sd = find_state_dict(obj, a.key)
    names = list(sd.keys())
    if names and all(n.startswith("module.") for n in names):
        names = [n[len("module."):] for n in names]
        sd = collections.OrderedDict(zip(names, sd.values()))
    delta = 0 if a.no_index_shift else 1
    out, seen = [], {}
    for name, t in sd.items():
        new = shift_name(name, delta)
        if new in seen:
            raise Failure("names '%s' and '%s' both become '%s'" % (seen[new], name, new))
        seen[new] = name
        dt, shape, data = tensor_bytes(name, t)
        out.append((new, dt, shape, data))
    meta = collections.OrderedDict([("format", "pt"), ("source", os.path.basename(a.input))])
    if a.model is not None or a.config is not None:
        if a.model is None or a.config is None:
            raise Failure("--model and --config go together (the model name and its options)")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", a.model):
            raise Failure("--model must be a model name under lunet.models, got '%s'" % a.model)
        meta["model"], meta["config"] = a.model, a.config
    if not a.no_index_shift:
        meta["index_base"] = "1"
    write_safetensors(a.output, out, meta)
    print("%s: %d tensors%s -> %s" % (a.input, len(out), " (indices +1)" if delta else "", a.output))


def to_torch(a):
    torch = need_torch()
    import numpy as np
    tensors, meta = read_safetensors(a.input)
    prefix = a.prefix
    if prefix is None and any(n.startswith("model.") for n in tensors) and \
            any(n.startswith(("optimizer.", "rng.", "scheduler.")) for n in tensors):
        prefix = "model."   # a lunet.train.fit checkpoint
    if prefix:
        tensors = collections.OrderedDict((n[len(prefix):], v) for n, v in tensors.items() if n.startswith(prefix))
        if not tensors:
            raise Failure("'%s' has no tensor named %s..." % (a.input, prefix))
    delta = 0 if a.no_index_shift else -1
    sd = collections.OrderedDict()
    for name, (dt, shape, data) in tensors.items():
        arr = np.frombuffer(data, dtype=DTYPES[dt][0]).reshape(shape).copy()
        t = torch.from_numpy(arr)
        if t.dtype != torch.bool and dt in ("F64", "F16"):
            t = t.to(torch.float32)
        if name.endswith("num_batches_tracked"):
            t = t.to(torch.int64)
        sd[shift_name(name, delta)] = t
    tmp = a.output + ".tmp%d" % os.getpid()
    try:
        torch.save(sd, tmp)
        os.replace(tmp, a.output)
    except OSError as e:
        raise Failure("cannot write '%s': %s" % (a.output, e.strerror))
    print("%s: %d tensors%s -> %s" % (a.input, len(sd), " (indices -1)" if delta else "", a.output))
    if meta:
        print("metadata (not stored in .pth): " + ", ".join("%s=%s" % kv for kv in meta.items()))


def info(a):
    tensors, meta = read_safetensors(a.input)
    total = 0
    for k, v in meta.items():
        print("metadata %s = %s" % (k, v))
    for name, (dt, shape, data) in tensors.items():
        n = 1
        for s in shape:
            n *= s
        total += n
        print("%-48s %-5s %s" % (name, dt, shape))
    print("%d tensors, %d elements" % (len(tensors), total))


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("lunet-weights: %s\n" % message)
        sys.exit(2)


def main(argv):
    p = Parser(prog="lunet-weights.py", description="PyTorch <-> lunet weights (safetensors with lunet's names).")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    s = sub.add_parser("to-lunet", help="a PyTorch .pth / .pt (state dict, checkpoint or module) -> lunet safetensors")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--key", help="the checkpoint entry holding the state dict")
    s.add_argument("--no-index-shift", action="store_true", help="keep PyTorch's 0-based names (load with index_base = 0)")
    s.add_argument("--model", help="model name under lunet.models, stored as metadata for lunet predict")
    s.add_argument("--config", help="the model's options as a Lua table literal, stored as metadata")
    s.add_argument("--unsafe", action="store_true", help="allow a pickled module (runs the file's code)")
    s.set_defaults(run=to_lunet)
    s = sub.add_parser("to-torch", help="lunet safetensors -> a PyTorch state dict .pth")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--prefix", help="take only the tensors named PREFIX... (default: model. for a fit checkpoint)")
    s.add_argument("--no-index-shift", action="store_true", help="the file already has 0-based names")
    s.set_defaults(run=to_torch)
    s = sub.add_parser("info", help="list a safetensors file's metadata and tensors (no torch needed)")
    s.add_argument("input")
    s.set_defaults(run=info)
    a = p.parse_args(argv)
    if not getattr(a, "run", None):
        p.print_usage(sys.stderr)
        sys.stderr.write("lunet-weights: a command is required (to-lunet, to-torch, info)\n")
        return 2
    try:
        a.run(a)
    except Failure as e:
        sys.stderr.write("lunet-weights %s: %s\n" % (a.command, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
