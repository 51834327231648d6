"""PyTorch CPU baseline for bench/zoo.lua: U^2-Net small (U2NETP) and UNet++ (NestedUNet, filters
32..512, deep supervision off) as the twins of spec/ref/gen_models_more.py (the same modules the
specs compare lunet against), 128x128x3, batch 4, Adam, BCE with logits (U^2-Net: summed over
its seven outputs). Prints JSON: train step ms (fwd + bwd + Adam), eval forward ms, peak RSS.
usage: python3 torch_zoo.py MODEL THREADS [BATCH] [SIZE] [STEPS]     (MODEL: u2net | unetpp)
Run as bench/bench_zoo.sh does, PyTorch's fastest setting on the 2-core machine:
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_zoo.py u2net 2"""
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "spec", "ref"))
from gen_models_more import U2NET, NestedUNet  # noqa: E402
import os as _os
# CLOCK=cpu in the environment: process CPU time (meaningful with 1 thread on a shared machine)
_now = time.process_time if _os.environ.get("CLOCK") == "cpu" else time.perf_counter


def main():
    name, th = sys.argv[1], int(sys.argv[2])
    bs = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    steps = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    torch.set_num_threads(th)
    torch.manual_seed(0)
    m = U2NET(3, 1, "small") if name == "u2net" else NestedUNet(1)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    x = torch.randn(bs, 3, size, size)
    y = (torch.rand(bs, 1, size, size) > 0.5).float()

    def step():
        opt.zero_grad()
        loss = sum(F.binary_cross_entropy_with_logits(o, y) for o in m(x))
        loss.backward()
        opt.step()

    m.train()
    for _ in range(2):
        step()
    t = _now()
    for _ in range(steps):
        step()
    train_ms = (_now() - t) / steps * 1e3
    m.eval()
    with torch.no_grad():
        for _ in range(2):
            m(x)
        t = _now()
        for _ in range(steps):
            m(x)
        eval_ms = (_now() - t) / steps * 1e3
    params = sum(p.numel() for p in m.parameters())
    print(json.dumps({"torch": torch.__version__, "model": name, "threads": th, "batch": bs, "size": size,
                      "params": params, "train_step_ms": round(train_ms, 1), "eval_fwd_ms": round(eval_ms, 1),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


if __name__ == "__main__":
    main()
