"""PyTorch side of bench/bench_kernels.sh: times every conv / transposed conv / max-pool layer
shape of the benchmark U-Net (bench/torch_unet.py: batch 8, 128x128x3, base 16,
depth 5), forward and forward+backward, and prints one line per shape:
    name fwd_ms fwdbwd_ms
usage: python3 torch_kernels.py THREADS [REPS]   (run with OPENBLAS_NUM_THREADS=1, as the
benchmark header says; the layer list must match bench/kernels.lua)."""
import os, sys, time
import torch, torch.nn.functional as F
# CLOCK=cpu: process CPU time (bench_kernels.sh), else wall time
tm = time.process_time if os.environ.get("CLOCK") == "cpu" else time.perf_counter

N = 8
# name, kind, cin, size, cout, k, stride, input needs grad
LAYERS = [
    ("enc1a", "conv", 3, 128, 16, 3, 1, False), ("enc1b", "conv", 16, 128, 16, 3, 1, True),
    ("enc2a", "conv", 16, 64, 32, 3, 1, True), ("enc2b", "conv", 32, 64, 32, 3, 1, True),
    ("enc3a", "conv", 32, 32, 64, 3, 1, True), ("enc3b", "conv", 64, 32, 64, 3, 1, True),
    ("enc4a", "conv", 64, 16, 128, 3, 1, True), ("enc4b", "conv", 128, 16, 128, 3, 1, True),
    ("enc5a", "conv", 128, 8, 256, 3, 1, True), ("enc5b", "conv", 256, 8, 256, 3, 1, True),
    ("up1", "convT", 256, 8, 128, 2, 2, True),
    ("dec1a", "conv", 256, 16, 128, 3, 1, True), ("dec1b", "conv", 128, 16, 128, 3, 1, True),
    ("up2", "convT", 128, 16, 64, 2, 2, True),
    ("dec2a", "conv", 128, 32, 64, 3, 1, True), ("dec2b", "conv", 64, 32, 64, 3, 1, True),
    ("up3", "convT", 64, 32, 32, 2, 2, True),
    ("dec3a", "conv", 64, 64, 32, 3, 1, True), ("dec3b", "conv", 32, 64, 32, 3, 1, True),
    ("up4", "convT", 32, 64, 16, 2, 2, True),
    ("dec4a", "conv", 32, 128, 16, 3, 1, True), ("dec4b", "conv", 16, 128, 16, 3, 1, True),
    ("head", "conv", 16, 128, 1, 1, 1, True),
    ("pool1", "pool", 16, 128, 16, 2, 2, True), ("pool2", "pool", 32, 64, 32, 2, 2, True),
    ("pool3", "pool", 64, 32, 64, 2, 2, True), ("pool4", "pool", 128, 16, 128, 2, 2, True),
]

def make(kind, cin, size, cout, k, stride, xgrad):
    x = torch.randn(N, cin, size, size, requires_grad=xgrad)
    if kind == "pool":
        return lambda: F.max_pool2d(x, k, stride), x, []
    if kind == "conv":
        w = torch.randn(cout, cin, k, k, requires_grad=True)
        b = torch.randn(cout, requires_grad=True)
        pad = (k - 1) // 2
        return lambda: F.conv2d(x, w, b, stride=stride, padding=pad), x, [w, b]
    w = torch.randn(cin, cout, k, k, requires_grad=True)
    b = torch.randn(cout, requires_grad=True)
    return lambda: F.conv_transpose2d(x, w, b, stride=stride), x, [w, b]

def best(fn, reps):
    fn(); fn()
    ts = []
    for _ in range(reps):
        t = tm(); fn(); ts.append(tm() - t)
    return min(ts) * 1e3   # the run least disturbed by other processes (kernels.lua too)

def main():
    th = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    only = sys.argv[3].split(",") if len(sys.argv) > 3 else None
    torch.set_num_threads(th); torch.manual_seed(0)
    for name, kind, cin, size, cout, k, stride, xgrad in LAYERS:
        if only and name not in only: continue
        f, x, params = make(kind, cin, size, cout, k, stride, xgrad)
        with torch.no_grad():
            fwd = best(f, reps)
        y = f(); g = torch.randn_like(y)
        def fb():
            for p in [x] + params: p.grad = None
            f().backward(g)
        fwdbwd = best(fb, reps)
        print("%s %.3f %.3f" % (name, fwd, fwdbwd), flush=True)

if __name__ == "__main__":
    main()
