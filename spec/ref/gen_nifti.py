#!/usr/bin/python3
"""gen_nifti.py: small NIfTI-1 files written by nibabel and the values nibabel reads from them
-> spec/ref/nifti/*.nii[.gz] and spec/ref/nifti.lua, for spec/nifti_spec.lua.

Run from the repo root with the Debian python (python3-nibabel, numpy):
    /usr/bin/python3 spec/ref/gen_nifti.py

Expected values are what nibabel reports: data = img.get_fdata() (scaled) transposed to
(k, j, i) (lunet's D x H x W, i fastest in the file), spacing = zooms reversed, affine =
img.affine (sform if sform_code > 0, else qform if qform_code > 0, else the base affine),
qform = header.get_qform(), sform = header.get_sform(), codes, slope/intercept.
If /tmp/lunet_written_*.nii* exist (written by lunet, see the end of spec/nifti_spec.lua with
LUNET_KEEP_NIFTI=1) they are read with nibabel and compared to their .expect files.
"""
import glob
import math
import os

import nibabel as nib
import numpy as np

OUT = os.path.join("spec", "ref", "nifti")
rng = np.random.default_rng(20261206)


def lua_value(v):
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (k, lua_value(x)) for k, x in v.items()) + "}"
    if isinstance(v, np.ndarray):
        return lua_value(v.tolist())
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


def rot(ax, ay, az):
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def affine(r, zooms, offset):
    a = np.eye(4)
    a[:3, :3] = r @ np.diag(zooms)
    a[:3, 3] = offset
    return a


cases = []


def add(name, img, note):
    path = os.path.join(OUT, name)
    nib.save(img, path)
    back = nib.load(path)
    hdr = back.header
    data = np.asarray(back.get_fdata())
    arr = np.transpose(data, tuple(range(data.ndim - 1, -1, -1)))   # (t, k, j, i)
    # nibabel moves the scaling of a loaded image into its array proxy (the header's is reset)
    slope, inter = float(back.dataobj.slope), float(back.dataobj.inter)
    if slope == 1.0 and inter == 0.0:
        slope = inter = None
    zooms = hdr.get_zooms()
    cases.append({
        "name": name, "note": note,
        "shape": list(arr.shape), "data": arr.ravel().tolist(),
        "dtype": str(hdr.get_data_dtype().newbyteorder("=").name),
        "spacing": [float(zooms[2]), float(zooms[1]), float(zooms[0])],
        "affine": back.affine.tolist(),
        "qform": hdr.get_qform().tolist(), "sform": hdr.get_sform().tolist(),
        "qform_code": int(hdr["qform_code"]), "sform_code": int(hdr["sform_code"]),
        "scl_slope": float("nan") if slope is None else float(slope),
        "scl_inter": float("nan") if inter is None else float(inter),
        "xyz_units": hdr.get_xyzt_units()[0],
        "descrip": hdr["descrip"].item().decode(),
    })


os.makedirs(OUT, exist_ok=True)
# 1. uint8 labels, sform and qform (rotation), 4 x 3 x 2 voxels (i, j, k)
d = rng.integers(0, 5, size=(4, 3, 2)).astype(np.uint8)
a = affine(rot(0.3, -0.2, 0.5), [1.5, 0.8, 2.5], [-10.0, 4.5, 7.25])
img = nib.Nifti1Image(d, a)
img.header.set_qform(a, code=1)
img.header.set_sform(a, code=2)
img.header.set_xyzt_units("mm")
img.header["descrip"] = b"lunet uint8 labels"
add("labels_u8.nii", img, "uint8, qform code 1 and sform code 2")

# 2. int16 with scl_slope/scl_inter, gzipped, qform only, 5 x 4 x 3
d = rng.integers(-300, 300, size=(5, 4, 3)).astype(np.int16)
a = affine(rot(-0.4, 0.1, 0.2), [0.9, 1.1, 3.0], [1.0, -2.0, 3.0])
img = nib.Nifti1Image(d, a)
img.header.set_qform(a, code=1)
img.header.set_sform(None, code=0)
img.header.set_slope_inter(0.5, -3.0)
img.header.set_xyzt_units("mm")
add("scaled_i16.nii.gz", img, "int16 with slope 0.5 and intercept -3, gzipped, qform only")

# 3. float32, big-endian, 4-D (i, j, k, t) = 3 x 2 x 2 x 2, sform only
d = rng.standard_normal((3, 2, 2, 2)).astype(">f4")
a = affine(np.eye(3), [2.0, 2.0, 4.0], [0.0, 0.0, 0.0])
hdr = nib.Nifti1Header(endianness=">")
img = nib.Nifti1Image(d, a, header=hdr)
img.header.set_qform(None, code=0)
img.header.set_sform(a, code=1)
add("bigendian_f32_4d.nii", img, "float32 big-endian, 4-D, sform only")

# 4. float64 and int32 without any code (nibabel's base affine), with an extension
d = rng.standard_normal((3, 3, 2)) * 1e3
img = nib.Nifti1Image(d.astype(np.float64), None)
img.header.set_qform(None, code=0)
img.header.set_sform(None, code=0)
img.header.set_zooms((0.5, 0.75, 1.25))
img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"lunet comment extension!"))
add("nocode_f64_ext.nii", img, "float64, no qform/sform code, one extension (vox_offset > 352)")
d = rng.integers(-100000, 100000, size=(2, 3, 4)).astype(np.int32)
img = nib.Nifti1Image(d, np.diag([1.0, 2.0, 3.0, 1.0]))
img.header.set_sform(None, code=0)
img.header.set_qform(np.diag([1.0, 2.0, 3.0, 1.0]), code=1)
add("i32.nii.gz", img, "int32 gzipped, diagonal qform")

with open(os.path.join("spec", "ref", "nifti.lua"), "w") as f:
    f.write("-- generated by spec/ref/gen_nifti.py; do not edit\nreturn " + lua_value(cases) + "\n")

# files written by lunet (optional): compare with what the spec says it wrote
for path in sorted(glob.glob("/tmp/lunet_written_*.nii*")):
    if path.endswith(".expect"):
        continue
    img = nib.load(path)
    exp = {}
    exec(open(path + ".expect").read(), {}, exp)
    data = np.asarray(img.get_fdata())
    arr = np.transpose(data, tuple(range(data.ndim - 1, -1, -1)))
    ok = np.allclose(arr.ravel(), exp["data"], atol=1e-5) and np.allclose(img.affine, exp["affine"], atol=1e-4)
    ok = ok and np.allclose(img.header.get_zooms()[:3][::-1], exp["spacing"], atol=1e-6)
    ok = ok and str(img.get_data_dtype().name) == exp["dtype"]
    print("%s: %s (dtype %s, zooms %s, codes q%d s%d)" % (path, "nibabel agrees" if ok else "MISMATCH",
          img.get_data_dtype(), img.header.get_zooms(), img.header["qform_code"], img.header["sform_code"]))
