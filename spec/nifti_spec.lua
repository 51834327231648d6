-- nifti_spec.lua: lunet.image.load_nifti / save_nifti (NIfTI-1 through the NIfTI C library)
-- against nibabel's reading of small committed files (spec/ref/gen_nifti.py ->
-- spec/ref/nifti/*.nii[.gz] and spec/ref/nifti.lua), round trips, and bad files that must
-- raise clear errors (never crash, print or allocate what the file cannot hold).
local lunet = require "lunet"
local image = lunet.image
local REF = dofile("spec/ref/nifti.lua")
local DIR = "spec/ref/nifti/"

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:\n]*:%d+: ", ""))
end

local function near(a, b, tol, what)
  assert(math.abs(a - b) <= tol * math.max(1, math.abs(b)),
    string.format("%s: expected %.9g, got %.9g", what, b, a))
end

local function near_mat(a, b, tol, what)
  for i = 1, 4 do for j = 1, 4 do near(a[i][j], b[i][j], tol, what .. "[" .. i .. "][" .. j .. "]") end end
end

local function read_bytes(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local tmpdir = os.tmpname()
os.remove(tmpdir)
assert(os.execute("mkdir -p " .. tmpdir))
local function tmp(name) return tmpdir .. "/" .. name end
local function write_bytes(name, s)
  local p = tmp(name)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
  return p
end
-- a plain header+data with fields patched: offset -> packed bytes
local BASE = read_bytes(DIR .. "labels_u8.nii")
local function patched(patches, tail)
  local s = BASE
  for _, p in ipairs(patches) do
    s = s:sub(1, p[1]) .. p[2] .. s:sub(p[1] + #p[2] + 1)
  end
  if tail then s = s:sub(1, tail) end
  return s
end

describe("image.load_nifti matches nibabel", function()
  for _, c in ipairs(REF) do
    it(c.name .. " (" .. c.note .. ")", function()
      local t, h = image.load_nifti(DIR .. c.name)
      assert.are.same(c.shape, t:shape())
      local float = c.dtype:match("float") or c.scl_slope == c.scl_slope
      assert.are.equal(float and "float32" or (c.dtype == "uint8" and "uint8" or "int32"), t:dtype())
      local v = t:tolist()
      assert.are.equal(#c.data, #v)
      for i = 1, #v do near(v[i], c.data[i], 1e-6, "voxel " .. i) end
      assert.are.equal(c.dtype, h.dtype)
      for i = 1, 3 do near(h.spacing[i], c.spacing[i], 1e-7, "spacing") end
      near_mat(h.affine, c.affine, 1e-6, "affine")
      near_mat(h.qform, c.qform, 1e-6, "qform")
      near_mat(h.sform, c.sform, 1e-6, "sform")
      assert.are.equal(c.qform_code, h.qform_code)
      assert.are.equal(c.sform_code, h.sform_code)
      if c.scl_slope == c.scl_slope then
        assert.are.equal(c.scl_slope, h.scl_slope)
        assert.are.equal(c.scl_inter, h.scl_inter)
      else
        assert.is_nil(h.scl_slope)
      end
      assert.are.equal(c.xyz_units, h.xyz_units)
      assert.are.equal(c.descrip, h.descrip)
      assert.are.equal(c.name:match("%.gz$") ~= nil, h.gzip)
    end)
  end

  it("maps tensor [k+1][j+1][i+1] to voxel (i, j, k): W is dim[1], the fastest axis", function()
    local t, h = image.load_nifti(DIR .. "labels_u8.nii")
    assert.are.same({4, 3, 2}, h.dim)            -- nx, ny, nz
    assert.are.same({2, 3, 4}, t:shape())        -- D, H, W
    -- the data follow the 352-byte header in file order (i fastest)
    local raw = BASE:sub(353)
    local v = t:tolist()
    for n = 1, 24 do assert.are.equal(raw:byte(n), v[n]) end
    local i, j, k = 3, 2, 1                       -- 0-based voxel indices
    assert.are.equal(raw:byte(1 + i + 4 * (j + 3 * k)), t:get(k + 1, j + 1, i + 1))
  end)

  it("reads big-endian files (byteorder reported)", function()
    local _, h = image.load_nifti(DIR .. "bigendian_f32_4d.nii")
    assert.are.equal("big", h.byteorder)
  end)
end)

describe("image.save_nifti", function()
  it("round-trips every dtype, .nii and .nii.gz, with the header of load_nifti", function()
    for _, name in ipairs{"labels_u8.nii", "scaled_i16.nii.gz", "bigendian_f32_4d.nii",
                          "nocode_f64_ext.nii", "i32.nii.gz"} do
      for _, ext in ipairs{".nii", ".nii.gz"} do
        local t, h = image.load_nifti(DIR .. name)
        local out = tmp("rt" .. ext)
        image.save_nifti(out, t, h)
        local t2, h2 = image.load_nifti(out)
        assert.are.same(t:shape(), t2:shape())
        assert.are.equal(t:dtype(), t2:dtype())
        assert.is_true(lunet.allclose(t:to("float32"), t2:to("float32"), 1e-6, 0), name .. ext)
        assert.are.equal(h.dtype, h2.dtype)
        assert.are.equal(h.qform_code, h2.qform_code)
        assert.are.equal(h.sform_code, h2.sform_code)
        assert.are.equal(h.scl_slope, h2.scl_slope)
        assert.are.equal(h.scl_inter, h2.scl_inter)
        for i = 1, 3 do near(h2.spacing[i], h.spacing[i], 1e-7, "spacing") end
        near_mat(h2.affine, h.affine, 1e-5, name .. ext .. " affine")
        if h.qform_code > 0 then near_mat(h2.qform, h.qform, 1e-5, "qform") end
        assert.are.equal(ext == ".nii.gz", h2.gzip)
        assert.are.equal(ext == ".nii.gz", read_bytes(out):sub(1, 2) == "\31\139")
      end
    end
  end)

  it("writes nibabel's defaults: sform_code 2 with an affine, spacing from the affine", function()
    local t = lunet.arange(0, 24):reshape(2, 3, 4):to("float32")
    local a = {{0, 0, 3, 1}, {0, 2, 0, 2}, {-1.5, 0, 0, 3}, {0, 0, 0, 1}}
    local p = image.save_nifti(tmp("a.nii"), t, {affine = a, xyz_units = "mm", descrip = "hello"})
    local t2, h = image.load_nifti(p)
    assert.are.same(t:tolist(), t2:tolist())
    assert.are.equal(0, h.qform_code)
    assert.are.equal(2, h.sform_code)
    near_mat(h.affine, a, 0, "affine")
    assert.are.same({3, 2, 1.5}, h.spacing)
    assert.are.equal("mm", h.xyz_units)
    assert.are.equal("hello", h.descrip)
    assert.are.equal("float32", h.dtype)
    -- without an affine: codes 0, spacing as given, nibabel's base affine
    image.save_nifti(p, t:to("int32"), {spacing = {2, 3, 4}, dtype = "int16"})
    local t3, h3 = image.load_nifti(p)
    assert.are.equal("int32", t3:dtype())
    assert.are.equal("int16", h3.dtype)
    assert.are.same({2, 3, 4}, h3.spacing)
    assert.are.same({-4, 0, 0, 6}, h3.affine[1])     -- x flipped, origin at the centre
    -- a qform with a reflection (qfac -1) survives
    local q = {{-2, 0, 0, 5}, {0, 3, 0, 6}, {0, 0, 4, 7}, {0, 0, 0, 1}}
    image.save_nifti(p, t, {affine = q, qform_code = 1, sform_code = 0})
    local _, h4 = image.load_nifti(p)
    near_mat(h4.affine, q, 1e-6, "qform with qfac -1")
  end)

  it("stores scaled integers as (v - inter) / slope", function()
    local t = lunet.tensor({-3, -2.5, 0, 10}, {shape = {1, 2, 2}})
    local p = image.save_nifti(tmp("s.nii"), t, {dtype = "int16", scl_slope = 0.5, scl_inter = -3})
    local raw = read_bytes(p)
    assert.are.same({0, 1, 6, 26, 361}, {string.unpack("<i2i2i2i2", raw, 353)})
    local t2, h = image.load_nifti(p)
    assert.are.same(t:tolist(), t2:tolist())
    assert.are.equal(0.5, h.scl_slope)
  end)

  it("writes C x D x H x W as a 4-D file", function()
    local t = lunet.randn(2, 3, 4, 5)
    local p = image.save_nifti(tmp("4d.nii.gz"), t, {spacing = {1, 2, 3}, time_step = 0.5})
    local t2, h = image.load_nifti(p)
    assert.are.same({5, 4, 3, 2}, h.dim)
    assert.is_true(lunet.allclose(t, t2, 0, 0))
    assert.are.equal(0.5, h.time_step)
  end)

  it("rejects values that do not fit, bad headers and paths", function()
    local t = lunet.tensor({1, 40000}, {shape = {1, 1, 2}})
    assert.are.equal("image.save_nifti: value 40000 at flat index 2 does not fit dtype int16",
      err_of(image.save_nifti, tmp("x.nii"), t, {dtype = "int16"}))
    assert.are.equal("image.save_nifti: value 0.5 at flat index 1 does not fit dtype uint8",
      err_of(image.save_nifti, tmp("x.nii"), lunet.full({1, 1, 1}, 0.5), {dtype = "uint8"}))
    assert.is_nil(io.open(tmp("x.nii")))
    assert.are.equal("image.save_nifti: path must end in .nii or .nii.gz, got 'x.png'",
      err_of(image.save_nifti, "x.png", t))
    assert.are.equal("image.save_nifti: unknown option 'spacin' (did you mean 'spacing'?)",
      err_of(image.save_nifti, tmp("x.nii"), t, {spacin = {1, 1, 1}}))
    assert.are.equal("image.save_nifti: header.spacing {1, 2, 3} does not match the qform's column norms (column 1 has 1)",
      err_of(image.save_nifti, tmp("x.nii"), t, {spacing = {1, 2, 3}, affine = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}, qform_code = 1}))
    assert.are.equal("image.save_nifti: header.affine[2][3] must be a finite number, got nan",
      err_of(image.save_nifti, tmp("x.nii"), t, {affine = {{1, 0, 0, 0}, {0, 1, 0/0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}}))
    assert.are.equal("image.save_nifti: t must be D x H x W, H x W or C x D x H x W, got [3]",
      err_of(image.save_nifti, tmp("x.nii"), lunet.zeros(3)))
    assert.are.equal("image.save_nifti: cannot open '" .. tmpdir .. "/no/such/dir/x.nii' for writing: No such file or directory",
      err_of(image.save_nifti, tmpdir .. "/no/such/dir/x.nii", t))
  end)

  if os.getenv("LUNET_KEEP_NIFTI") then
    -- files for spec/ref/gen_nifti.py to read with nibabel
    it("writes files for nibabel", function()
      local function keep(name, t, hd, dtype)
        local p = image.save_nifti("/tmp/lunet_written_" .. name, t, hd)
        local _, h = image.load_nifti(p)
        local f = assert(io.open(p .. ".expect", "w"))
        local v = t:to("float32"):tolist()
        local rows = {}
        for i = 1, 4 do rows[i] = "[" .. table.concat(h.affine[i], ", ") .. "]" end
        f:write(("data = [%s]\naffine = [%s]\nspacing = [%s]\ndtype = '%s'\n"):format(
          table.concat(v, ", "), table.concat(rows, ", "), table.concat(h.spacing, ", "), dtype))
        f:close()
      end
      lunet.manual_seed(3)
      keep("f32.nii.gz", lunet.randn(3, 4, 5), {affine = {{0, 0, 3, 1}, {0, 2, 0, 2}, {-1.5, 0, 0, 3}, {0, 0, 0, 1}}}, "float32")
      keep("u8.nii", lunet.randint(0, 4, {2, 3, 4}):to("uint8"), {spacing = {2, 3, 4}}, "uint8")
      keep("q.nii", lunet.randint(0, 100, {2, 3, 4}) * 2 + 1, {affine = {{-2, 0, 0, 5}, {0, 3, 0, 6}, {0, 0, 4, 7}, {0, 0, 0, 1}}, qform_code = 1, sform_code = 0, dtype = "int16", scl_slope = 2, scl_inter = 1}, "int16")
    end)
  end
end)

describe("image.load_nifti refuses bad files", function()
  local hdr = BASE:sub(1, 348)
  local cases = {
    {"a missing file", tmp("missing.nii"), "cannot open '" .. tmp("missing.nii") .. "': No such file or directory"},
    {"a directory", tmpdir, "cannot open '" .. tmpdir .. "': it is a directory, not a regular file"},
    {"an empty file", write_bytes("empty.nii", ""), "'" .. tmp("empty.nii") .. "' is truncated or corrupt: the header ends after 0 of 348 bytes"},
    {"a truncated header", write_bytes("short.nii", BASE:sub(1, 100)), "'" .. tmp("short.nii") .. "' is truncated or corrupt: the header ends after 100 of 348 bytes"},
    {"truncated data", write_bytes("trunc.nii", BASE:sub(1, 360)), "'" .. tmp("trunc.nii") .. "' is truncated: the header claims 24 bytes of data at offset 352, the file has 360 bytes"},
    {"a PNG", write_bytes("png.nii", "\137PNG\r\n\26\n" .. string.rep("\0", 400)), "'" .. tmp("png.nii") .. "' is not a NIfTI-1 file (sizeof_hdr is 1196314761, expected 348)"},
    {"NIfTI-2", write_bytes("n2.nii", patched{{0, string.pack("<i4", 540)}}), "'" .. tmp("n2.nii") .. "' is a NIfTI-2 file: only NIfTI-1 is supported"},
    {"a .hdr/.img header", write_bytes("pair.nii", patched{{344, "ni1\0"}}), "'" .. tmp("pair.nii") .. "' is the header of a .hdr/.img pair: only single-file NIfTI-1 (.nii, magic \"n+1\") is supported"},
    {"no magic", write_bytes("nomagic.nii", patched{{344, "\0\0\0\0"}}), "'" .. tmp("nomagic.nii") .. "' is not a NIfTI-1 file (no \"n+1\" magic: ANALYZE 7.5 or a corrupt header)"},
    {"dim[0] = 0", write_bytes("d0.nii", patched{{40, string.pack("<i2", 0)}}), "'" .. tmp("d0.nii") .. "': dim[0] must be 1..7, got 0"},
    {"dim[0] = 8", write_bytes("d8.nii", patched{{40, string.pack("<i2", 8)}}), "'" .. tmp("d8.nii") .. "': dim[0] must be 1..7, got 8"},
    {"a negative dim", write_bytes("neg.nii", patched{{42, string.pack("<i2", -4)}}), "'" .. tmp("neg.nii") .. "': dim[1] must be >= 1, got -4 (dims [3, -4, 3, 2])"},
    {"an unsupported datatype", write_bytes("rgb.nii", patched{{70, string.pack("<i2", 128)}}), "'" .. tmp("rgb.nii") .. "': datatype 128 is not supported (uint8 2, int16 4, int32 8, float32 16, float64 64, int8 256, uint16 512)"},
    {"vox_offset below 352", write_bytes("off.nii", patched{{108, string.pack("<f", 100)}}), "'" .. tmp("off.nii") .. "': vox_offset must be an integer >= 352, got 100"},
    {"vox_offset NaN", write_bytes("offnan.nii", patched{{108, string.pack("<f", 0/0)}}), "'" .. tmp("offnan.nii") .. "': vox_offset must be an integer >= 352, got nan"},
    {"huge dims", write_bytes("huge.nii", patched{{40, string.pack("<i2i2i2i2i2i2i2i2", 7, 32767, 32767, 32767, 32767, 32767, 32767, 32767)}}),
      "'" .. tmp("huge.nii") .. "': the header's dimensions overflow int64"},
    {"more voxels than the limit", write_bytes("big.nii", patched{{40, string.pack("<i2i2i2i2", 3, 30000, 30000, 30000)}}),
      "'" .. tmp("big.nii") .. "' claims 27000000000000 voxels, more than the limit of 89478485 voxels (option max_voxels, image.set_max_pixels)"},
    {"a scale slope with a NaN intercept", write_bytes("nanint.nii", patched{{112, string.pack("<ff", 2, 0/0)}}),
      "'" .. tmp("nanint.nii") .. "': scl_slope is 2 but scl_inter is nan (must be finite)"},
    {"a 5-D file with nt > 1", write_bytes("5d.nii", patched{{40, string.pack("<i2i2i2i2i2i2", 5, 1, 1, 2, 3, 2)}}),
      "'" .. tmp("5d.nii") .. "' has 5 dimensions [1, 1, 2, 3, 2, ...]: only 1 to 4 (or 5 with dim[4] = 1) are supported"},
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function()
      local msg = err_of(image.load_nifti, c[2])
      assert.are.equal("image.load_nifti: " .. c[3], msg)
    end)
  end

  it("rejects a truncated and a corrupt gzip file, and a gzip bomb header", function()
    local gz = read_bytes(DIR .. "scaled_i16.nii.gz")
    local p = write_bytes("tr.nii.gz", gz:sub(1, #gz - 40))
    assert.matches("is truncated or corrupt: the voxel data ends after %d+ of 120 bytes",
      err_of(image.load_nifti, p))
    p = write_bytes("bad.nii.gz", gz:sub(1, 20) .. string.rep("x", 200))
    assert.matches("is truncated or corrupt: the header ends after %d+ of 348 bytes", err_of(image.load_nifti, p))
    -- a 100-byte gzip file cannot hold 20000 x 100 x 100 bytes (zlib's ratio is at most 1032:1)
    local h = patched{{40, string.pack("<i2i2i2i2", 3, 20000, 100, 100)}}:sub(1, 352)
    p = write_bytes("bomb.nii", h)
    assert(os.execute("gzip -c " .. p .. " > " .. tmp("bomb.nii.gz")))
    assert.matches("claims 200000000 bytes of data, more than a %d+%-byte gzip file can hold",
      err_of(image.load_nifti, tmp("bomb.nii.gz"), {max_voxels = false}))
  end)

  it("honours max_voxels", function()
    assert.are.equal("image.load_nifti: '" .. DIR .. "labels_u8.nii' claims 24 voxels, more than the limit of 23 voxels (option max_voxels, image.set_max_pixels)",
      err_of(image.load_nifti, DIR .. "labels_u8.nii", {max_voxels = 23}))
    assert.are.equal(24, (image.load_nifti(DIR .. "labels_u8.nii", {max_voxels = 24})):numel())
    assert.are.equal("image.load_nifti: unknown option 'max_voxel' (did you mean 'max_voxels'?)",
      err_of(image.load_nifti, DIR .. "labels_u8.nii", {max_voxel = 1}))
    assert.are.equal("image.load_nifti: path must be a string, got nil", err_of(image.load_nifti))
  end)

  it("reads a file whose extensions are cut short as truncated", function()
    local s = read_bytes(DIR .. "nocode_f64_ext.nii")
    local p = write_bytes("ext.nii", s:sub(1, 360))
    assert.matches("is truncated", err_of(image.load_nifti, p))
  end)
end)

teardown(function() os.execute("rm -rf " .. tmpdir) end)
