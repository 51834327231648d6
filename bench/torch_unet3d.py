"""PyTorch 1.13 side of bench/bench_unet3d.sh: the 3-D U-Net of models/unet3d.lua (1 input
channel, 64^3 patches, base 16, depth 4, BN + ReLU, transposed-conv up, 2 classes, batch 2,
cross entropy, Adam), per-layer forward / backward and the whole training step.
ONLY="enc3a,bota" in the environment keeps only the layers named by their first word.
usage: python3 torch_unet3d.py layers|step THREADS [REPS_OR_STEPS] [SIZE]
Run as bench/bench_unet3d.sh does: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_unet3d.py step 2 (PyTorch uses oneDNN
for 3-D convolutions on the CPU; torch.set_num_threads(THREADS))."""
import json, os, resource, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

mode, th = sys.argv[1], int(sys.argv[2])
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
S = int(sys.argv[4]) if len(sys.argv) > 4 else 64
N = 2
torch.set_num_threads(th)
torch.manual_seed(0)


def timed(f):
    c, w = time.process_time(), time.perf_counter()
    r = f()
    return r, (time.perf_counter() - w) * 1e3, (time.process_time() - c) * 1e3


class UNet3D(nn.Module):
    def __init__(self, cin=1, classes=2, base=16, depth=4):
        super().__init__()

        def block(a, mid, b):
            return nn.Sequential(nn.Conv3d(a, mid, 3, padding=1), nn.BatchNorm3d(mid), nn.ReLU(),
                                 nn.Conv3d(mid, b, 3, padding=1), nn.BatchNorm3d(b), nn.ReLU())

        self.depth = depth
        self.encoders = nn.ModuleList()
        c = cin
        for k in range(depth):
            mid = base * 2 ** k
            self.encoders.append(block(c, mid, 2 * mid))
            c = 2 * mid
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for k in range(depth - 2, -1, -1):
            s = 2 * base * 2 ** k
            self.ups.append(nn.ConvTranspose3d(c, c, 2, stride=2))
            self.decoders.append(block(c + s, s, s))
            c = s
        self.head = nn.Conv3d(c, classes, 1)

    def forward(self, x):
        skips = []
        for k, enc in enumerate(self.encoders):
            x = enc(x)
            if k < self.depth - 1:
                skips.append(x)
                x = F.max_pool3d(x, 2)
        for up, dec in zip(self.ups, self.decoders):
            x = dec(torch.cat([up(x), skips.pop()], 1))
        return self.head(x)


if mode == "layers":
    R = torch.randn
    layers = []

    def conv(name, cin, cout, s):
        x, w, b = R(N, cin, s, s, s, requires_grad=True), R(cout, cin, 3, 3, 3, requires_grad=True), R(cout, requires_grad=True)
        layers.append((name, lambda: F.conv3d(x, w, b, padding=1), 2 * N * cin * cout * 27 * s ** 3))

    def up(name, c, s):
        x, w, b = R(N, c, s, s, s, requires_grad=True), R(c, c, 2, 2, 2, requires_grad=True), R(c, requires_grad=True)
        layers.append((name, lambda: F.conv_transpose3d(x, w, b, stride=2), 2 * N * c * c * 8 * s ** 3))

    q = S // 8
    conv("enc1a 1->16 @64", 1, 16, S); conv("enc1b 16->32 @64", 16, 32, S)
    conv("enc2a 32->32 @32", 32, 32, S // 2); conv("enc2b 32->64 @32", 32, 64, S // 2)
    conv("enc3a 64->64 @16", 64, 64, S // 4); conv("enc3b 64->128 @16", 64, 128, S // 4)
    conv("bota 128->128 @8", 128, 128, q); conv("botb 128->256 @8", 128, 256, q)
    up("up3 256 @8->16", 256, q); conv("dec3a 384->128 @16", 384, 128, S // 4); conv("dec3b 128->128 @16", 128, 128, S // 4)
    up("up2 128 @16->32", 128, S // 4); conv("dec2a 192->64 @32", 192, 64, S // 2); conv("dec2b 64->64 @32", 64, 64, S // 2)
    up("up1 64 @32->64", 64, S // 2); conv("dec1a 96->32 @64", 96, 32, S); conv("dec1b 32->32 @64", 32, 32, S)
    xh, wh, bh = R(N, 32, S, S, S, requires_grad=True), R(2, 32, 1, 1, 1, requires_grad=True), R(2, requires_grad=True)
    layers.append(("head 1x1x1 32->2 @64", lambda: F.conv3d(xh, wh, bh), 2 * N * 32 * 2 * S ** 3))
    xp = R(N, 32, S, S, S, requires_grad=True)
    layers.append(("maxpool2 32ch @64", lambda: F.max_pool3d(xp, 2), 0))
    xb, wb, bb = R(N, 32, S, S, S, requires_grad=True), torch.ones(32, requires_grad=True), torch.zeros(32, requires_grad=True)
    rm, rv = torch.zeros(32), torch.ones(32)
    layers.append(("batchnorm 32ch @64", lambda: F.batch_norm(xb, rm, rv, wb, bb, training=True), 0))
    xr = R(N, 32, S, S, S, requires_grad=True)
    layers.append(("relu 32ch @64", lambda: F.relu(xr), 0))
    only = set(filter(None, os.environ.get("ONLY", "").replace(",", " ").split()))
    warm = False
    for name, f, flop in layers:
        if only and name.split()[0] not in only:
            continue
        if not warm:  # one untimed pass, as bench/unet3d.lua does
            y = f()
            y.backward(torch.ones_like(y))
            del y
            warm = True
        best = None
        for _ in range(reps):
            y, fw, fc = timed(f)
            gy = torch.ones_like(y)
            _, bw, bc = timed(lambda: y.backward(gy))
            if best is None or fw + bw < best[0] + best[1]:
                best = (fw, bw, fc, bc)
            del y, gy
        print("%-24s %9.1f %9.1f %9.1f %9.1f %8.2f" % (name, best[0], best[1], best[2], best[3], flop / 1e9))
        sys.stdout.flush()
else:
    m = UNet3D()
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    x = torch.randn(N, 1, S, S, S)
    y = torch.randint(0, 2, (N, S, S, S))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()

    m.train()
    step()
    best = None
    for _ in range(reps):
        _, w, c = timed(step)
        if best is None or w < best[0]:
            best = (w, c)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"side": "pytorch", "threads": th, "params": sum(p.numel() for p in m.parameters()),
                      "train_step_ms": round(best[0], 1), "train_step_cpu_ms": round(best[1], 1), "maxrss_mb": rss}))
