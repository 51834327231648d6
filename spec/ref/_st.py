"""_st.py: the one safetensors writer of the spec/ref generators (the safetensors package is not
installed, so the format is written by hand the way safetensors.torch.save_file lays it out):
u64 little-endian header size, the JSON header (no spaces) padded with spaces to a multiple of
8 bytes, then the raw little-endian tensor bytes in header order.

    import _st
    _st.write(path, tensors, meta)                            # names sorted, "__metadata__" last
    _st.write(path, tensors, meta, order=names, meta_first=True)

Returns the file's size in bytes. Run the generators with /usr/bin/python3 from the repo root
(or from anywhere: each one puts its own directory on sys.path before importing this)."""
import json
import struct

DTYPES = {"float32": "F32", "float64": "F64", "int64": "I64", "int32": "I32", "int16": "I16",
          "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def dtype_name(t):
    """The safetensors dtype of a torch tensor ("F32", "I64", ...)."""
    name = str(t.dtype).replace("torch.", "")
    if name not in DTYPES:
        raise ValueError("_st: no safetensors dtype for %s" % t.dtype)
    return DTYPES[name]


def write(path, tensors, meta=None, order=None, meta_first=False):
    """Writes the dict name -> torch tensor to path; order (default: sorted names) is the order of
    the header entries and of the data; meta (a dict of strings) is "__metadata__", first in the
    header when meta_first, else last."""
    names = list(order) if order is not None else sorted(tensors)
    header, blobs, offset = {}, [], 0
    if meta is not None and meta_first:
        header["__metadata__"] = meta
    for name in names:
        t = tensors[name].detach().contiguous()
        raw = t.numpy().tobytes()  # little-endian on x86
        header[name] = {"dtype": dtype_name(t), "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if meta is not None and not meta_first:
        header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return 8 + len(h) + offset
