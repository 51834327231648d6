"""PyTorch twin of bench/small_layers.lua: forward, input gradient and weight gradient of the
small-map convolutions, timed separately (aten.convolution / aten.convolution_backward with one
output mask each), best of REPS after a warm-up call. Prints "name kind ms gflops" lines.
usage: /usr/bin/python3 bench/small_layers_torch.py [THREADS] [REPS] [FILTER]; CLOCK=cpu env."""
import os, re, sys, time, torch
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
filt = sys.argv[3] if len(sys.argv) > 3 else ""
tm = time.process_time if os.environ.get("CLOCK") == "cpu" else time.perf_counter
torch.set_num_threads(threads); torch.manual_seed(0)
LAYERS = [("f28_1_16", 64, 1, 28, 16, False), ("f28_16_16", 64, 16, 28, 16, True),
          ("f28_32_16", 64, 32, 28, 16, True),
          ("f14_16_32", 64, 16, 14, 32, True), ("f14_32_32", 64, 32, 14, 32, True),
          ("f14_64_32", 64, 64, 14, 32, True),
          ("f7_32_64", 64, 32, 7, 64, True), ("f7_64_64", 64, 64, 7, 64, True),
          ("u8_128_256", 8, 128, 8, 256, True), ("u8_256_256", 8, 256, 8, 256, True),
          ("t64_3_16", 8, 3, 64, 16, False),
          ("t64_16_16", 8, 16, 64, 16, True),
          ("t64_32_16", 8, 32, 64, 16, True),
          ("t32_16_32", 8, 16, 32, 32, True),
          ("t32_32_32", 8, 32, 32, 32, True),
          ("t32_64_32", 8, 64, 32, 32, True),
          ("t16_32_64", 8, 32, 16, 64, True),
          ("t16_64_64", 8, 64, 16, 64, True),
          ("t16_128_64", 8, 128, 16, 64, True),
          ("t8_64_128", 8, 64, 8, 128, True),
          ("t8_128_128", 8, 128, 8, 128, True),
          ("u32_32_64", 8, 32, 32, 64, True),
          ("u32_64_64", 8, 64, 32, 64, True),
          ("u32_128_64", 8, 128, 32, 64, True),
          ("u16_64_128", 8, 64, 16, 128, True),
          ("u16_128_128", 8, 128, 16, 128, True),
          ("u16_256_128", 8, 256, 16, 128, True)]
def best(fn):
    fn(); t = float("inf")
    for _ in range(reps):
        t0 = tm(); fn(); t = min(t, tm() - t0)
    return t * 1e3
cb = torch.ops.aten.convolution_backward
with torch.no_grad():
    for name, n, ci, s, co, needdx in LAYERS:
        if not re.search(filt, name): continue
        x = torch.randn(n, ci, s, s); w = torch.randn(co, ci, 3, 3) / (ci * 9) ** 0.5
        gy = torch.randn(n, co, s, s); fl = 2.0 * n * co * s * s * ci * 9
        args = ([1, 1], [1, 1], [1, 1], False, [0, 0], 1)
        res = [("fwd", best(lambda: torch.ops.aten.convolution(x, w, None, *args)))]
        if needdx: res.append(("dx", best(lambda: cb(gy, x, w, None, *args, [True, False, False]))))
        res.append(("dw", best(lambda: cb(gy, x, w, None, *args, [False, True, False]))))
        for k, t in res: print("%-12s %-3s %8.3f %7.1f" % (name, k, t, fl / t * 1e-6), flush=True)
