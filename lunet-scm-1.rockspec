package = "lunet"
version = "scm-1"
source = {
   url = "git+file://.",
}
description = {
   summary = "Image segmentation for Lua 5.4: tensors, autograd, OpenBLAS convolutions, U-Net and friends",
   detailed = [[
lunet is a Lua 5.4 extension module written in C for building, training and running
image-segmentation networks: float32 NCHW tensors with reverse-mode autograd, convolution
on OpenBLAS, PNG/JPEG I/O, losses, metrics, augmentation, and U-Net / Tiramisu / HRNet /
DeepLabv3+ models written in Lua.
]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
external_dependencies = {
   OPENBLAS = { library = "openblas" },
   PNG = { header = "png.h", library = "png16" },
   JPEG = { header = "jpeglib.h", library = "jpeg" },
   CJSON = { header = "cjson/cJSON.h", library = "cjson" },
   ZLIB = { header = "zlib.h", library = "z" },
}
build = {
   type = "make",
   build_target = "all",
   build_variables = {
      CFLAGS = "$(CFLAGS)",
      LUA_INC = "-I$(LUA_INCDIR)",
   },
   install_target = "install",
   install_variables = {
      INST_LIBDIR = "$(LIBDIR)",
      INST_LUADIR = "$(LUADIR)",
   },
}
