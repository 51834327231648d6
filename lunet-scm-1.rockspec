-- lunet's rockspec. Three ways to use it:
--   luarocks --lua-version=5.4 make lunet-scm-1.rockspec [--tree DIR]   build this checkout
--   make rock       packs this working tree into build/rock/lunet-scm-1.src.rock (this file
--                   with its source pointed at a tarball of the tree, then `luarocks pack`);
--                   `luarocks --lua-version=5.4 install lunet-scm-1.src.rock` installs it
--                   offline on any machine with the external dependencies below
--   luarocks test   runs the specs (`make test`) in the source directory
-- rockspecs/ is where release rockspecs go (its lunet-scm-1.rockspec links to this file).
rockspec_format = "3.0"
package = "lunet"
version = "scm-1"
-- The development head. A release vX.Y.Z is published by copying this file to
-- rockspecs/lunet-X.Y.Z-1.rockspec with
--   source = { url = "https://github.com/lunet/lunet/archive/vX.Y.Z.tar.gz",
--              dir = "lunet-X.Y.Z", md5 = "<md5sum of that archive>" },
-- tagging vX.Y.Z, and running `luarocks pack` and `luarocks upload` on that rockspec (the
-- .src.rock it packs carries the archive, so installs need no network).
source = {
   url = "git+https://github.com/lunet/lunet.git",
   branch = "main",
}
description = {
   summary = "Image segmentation for Lua 5.4: tensors, autograd, OpenBLAS convolutions, U-Net and friends",
   detailed = [[
lunet is a Lua 5.4 extension module written in C for building, training and running
image-segmentation networks: float32 NCHW tensors with reverse-mode autograd, convolution
on OpenBLAS, PNG/JPEG I/O, losses, metrics, augmentation, and U-Net / Tiramisu / HRNet /
DeepLabv3+ models written in Lua. The `lunet` command trains, predicts, evaluates and
describes models from the shell.
]],
   homepage = "https://github.com/lunet/lunet",
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
-- Debian 12: libopenblas-dev libpng-dev libjpeg62-turbo-dev libcjson-dev zlib1g-dev libnifti2-dev
external_dependencies = {
   OPENBLAS = { library = "openblas" },
   PNG = { header = "png.h", library = "png16" },
   JPEG = { header = "jpeglib.h", library = "jpeg" },
   CJSON = { header = "cjson/cJSON.h", library = "cjson" },
   ZLIB = { header = "zlib.h", library = "z" },
   NIFTI = { header = "nifti/nifti1_io.h", library = "niftiio" },
}
-- The Makefile's default build is portable (no -march: it runs on any x86-64; the hot kernels
-- pick their AVX2 / AVX-512 copies at run time), so a packed rock serves any machine.
build = {
   type = "make",
   build_target = "all",
   build_variables = {
      -- luarocks passes its own CFLAGS (-O2 -fPIC), which the Makefile puts after its -O3:
      -- the trailing -O3 keeps the Makefile's optimisation level (rock_spec checks it).
      CFLAGS = "$(CFLAGS) -O3",
      LUA_INC = "-I$(LUA_INCDIR)",
   },
   install_target = "install",
   install_variables = {
      INST_LIBDIR = "$(LIBDIR)",
      INST_LUADIR = "$(LUADIR)",
      INST_BINDIR = "$(BINDIR)",
   },
}
test = {
   type = "command",
   command = "make test",
}
