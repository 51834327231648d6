"""PyTorch side of bench/bench_tux.sh: one training step (forward + cross-entropy + backward +
Adam 2e-3) and one eval forward of the Tux Paint demo's net (examples/demo.lua: 4-level U-Net,
base 16, batch norm, 3 channels in, 2 classes) on random 8x3x64x64 data, the same shapes as
`lua5.4 bench/step.lua --model tux`. Prints the best step of STEPS (after 2 warm-up steps) as
one JSON line. CLOCK cpu times in process CPU time (meaningful with 1 thread on a shared
machine), wall (default) in wall time.
usage: /usr/bin/python3 tux_step_torch.py [THREADS] [STEPS] [CLOCK]"""
import sys, time, torch, torch.nn as nn, torch.nn.functional as F
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
clock = sys.argv[3] if len(sys.argv) > 3 else "wall"
tm = time.process_time if clock == "cpu" else time.perf_counter
torch.set_num_threads(threads); torch.manual_seed(0)
def blk(i, o): return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(),
                                    nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())
class U(nn.Module):
    def __init__(s, b=16):
        super().__init__(); s.d1 = blk(3, b); s.d2 = blk(b, 2*b); s.d3 = blk(2*b, 4*b)
        s.d4 = blk(4*b, 8*b)
        s.u3 = nn.ConvTranspose2d(8*b, 4*b, 2, 2); s.c3 = blk(8*b, 4*b)
        s.u2 = nn.ConvTranspose2d(4*b, 2*b, 2, 2); s.c2 = blk(4*b, 2*b)
        s.u1 = nn.ConvTranspose2d(2*b, b, 2, 2); s.c1 = blk(2*b, b); s.h = nn.Conv2d(b, 2, 1)
    def forward(s, x):
        a = s.d1(x); b = s.d2(F.max_pool2d(a, 2)); c = s.d3(F.max_pool2d(b, 2))
        d = s.d4(F.max_pool2d(c, 2))
        c = s.c3(torch.cat([s.u3(d), c], 1)); b = s.c2(torch.cat([s.u2(c), b], 1))
        a = s.c1(torch.cat([s.u1(b), a], 1)); return s.h(a)
m = U(); opt = torch.optim.Adam(m.parameters(), 2e-3)
x = torch.rand(8, 3, 64, 64); y = torch.randint(0, 2, (8, 64, 64))
def step():
    opt.zero_grad(); l = F.cross_entropy(m(x), y); l.backward(); opt.step()
def best(fn):
    for _ in range(2): fn()
    t = float("inf")
    for _ in range(steps):
        t0 = tm(); fn(); t = min(t, tm() - t0)
    return t * 1e3
m.train(); train = best(step)
m.eval()
with torch.no_grad(): ev = best(lambda: m(x))
print('{"model": "tux", "threads": %d, "clock": "%s", "params": %d, "train_step_ms": %.1f, "eval_fwd_ms": %.1f}'
      % (threads, clock, sum(p.numel() for p in m.parameters()), train, ev))
