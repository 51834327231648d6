-- make tsan, second part: one Lua state training with 2 compute threads, so that the kernels'
-- parallel regions (Winograd and plane convs with their barriers and dynamic loops, batch
-- norm, pools, cross-entropy, Adam; a 3-D conv) run on lunet's OpenMP runtime
-- (csrc/lt_omp.c) under ThreadSanitizer. lua5.4 itself is not instrumented; the Makefile
-- preloads the TSan runtime. Prints the losses; any report fails the run.
local lunet = require "lunet"
local nn = require "lunet.nn"
local F = nn.functional
local UNet = require "lunet.models.unet"
lunet.set_num_threads(2)
lunet.manual_seed(1)
local model = UNet { in_channels = 1, num_classes = 3, base = 16, depth = 3, norm = "batch" }
local x, y = lunet.rand(8, 1, 28, 28), lunet.randint(0, 3, { 8, 28, 28 })
local opt = lunet.optim.Adam(model:parameters(), { lr = 1e-2 })
local loss_fn = nn.CrossEntropyLoss {}
for step = 1, 2 do
  opt:zero_grad()
  local loss = loss_fn(model(x), y)
  loss:backward()
  opt:step()
  print(("tsan_train: 2-D step %d loss %.6f"):format(step, loss:item()))
end
local v = lunet.randn(2, 8, 12, 12, 12):requires_grad()
local w = lunet.randn(16, 8, 3, 3, 3):requires_grad()
local out = F.conv3d(v, w, nil, { padding = 1 })
out:sum():backward()
print(("tsan_train: 3-D conv %s, grad %s"):format(table.concat(out:size(), "x"), table.concat(w.grad:size(), "x")))
