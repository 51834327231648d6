#!/usr/bin/python3
"""gen_volume_models.py: PyTorch 1.13 twins of models/unet3d.lua and models/vnet.lua (run with
/usr/bin/python3 from the repo root).

Writes
  spec/ref/volume_models_torch.lua     parameter counts of the papers' configurations, as
                                       PyTorch counts them (sum of p.numel() over parameters())
  spec/ref/volume_<name>.safetensors   for one small configuration of each model: its state dict
                                       (after two training-mode forwards, so the BN statistics
                                       are not trivial), an input "test.input" and the eval-mode
                                       output "test.output"; metadata "keys" lists the state-dict
                                       keys in PyTorch's order.

Structures are rebuilt from the papers, not copied: 3-D U-Net after Çiçek et al. 2016 (Fig. 1:
per level two 3x3x3 conv + BN + ReLU, the second doubling the channels; 2x2x2 max pooling;
2x2x2 stride-2 up-convolutions keeping the channels; 1x1x1 output conv; "same" padding as
wolny/pytorch-3dunet), V-Net after Milletari et al. 2016 (Fig. 2: 5x5x5 convs, PReLU, residual
stages of 1, 2, 3, 3, 3 convs down and 3, 3, 2, 1 up, 2x2x2 stride-2 down/up convolutions)
with the module names of the well-known mattmacy/vnet.pytorch (in_tr, down_tr, up_tr, out_tr,
LUConv relu1/conv1/bn1), PReLU everywhere and plain BatchNorm3d.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _st  # noqa: E402

import torch
import torch.nn as nn


def norm(kind, c):
    if kind == "batch":
        return nn.BatchNorm3d(c)
    if kind == "instance":
        return nn.InstanceNorm3d(c, affine=True)
    raise ValueError(kind)


class UNet3D(nn.Module):
    def __init__(self, cin=3, classes=3, base=32, depth=4, norm_kind="batch"):
        super().__init__()

        def block(a, mid, b):
            return nn.Sequential(nn.Conv3d(a, mid, 3, padding=1), norm(norm_kind, mid), nn.ReLU(),
                                 nn.Conv3d(mid, b, 3, padding=1), norm(norm_kind, b), nn.ReLU())

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
                x = nn.functional.max_pool3d(x, 2)
        for up, dec in zip(self.ups, self.decoders):
            x = dec(torch.cat([up(x), skips.pop()], 1))
        return self.head(x)


class LUConv(nn.Module):
    def __init__(self, c, nk):
        super().__init__()
        self.relu1 = nn.PReLU(c)
        self.conv1 = nn.Conv3d(c, c, 5, padding=2)
        self.bn1 = norm(nk, c)

    def forward(self, x):
        return self.relu1(self.bn1(self.conv1(x)))


class InputTransition(nn.Module):
    def __init__(self, cin, c, nk):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, c, 5, padding=2)
        self.bn1 = norm(nk, c)
        self.relu1 = nn.PReLU(c)
        self.repeats = c // cin

    def forward(self, x):
        return self.relu1(self.bn1(self.conv1(x)) + torch.cat([x] * self.repeats, 1))


class DownTransition(nn.Module):
    def __init__(self, cin, n, nk):
        super().__init__()
        c = 2 * cin
        self.down_conv = nn.Conv3d(cin, c, 2, stride=2)
        self.bn1 = norm(nk, c)
        self.relu1 = nn.PReLU(c)
        self.relu2 = nn.PReLU(c)
        self.ops = nn.Sequential(*[LUConv(c, nk) for _ in range(n)])

    def forward(self, x):
        down = self.relu1(self.bn1(self.down_conv(x)))
        return self.relu2(self.ops(down) + down)


class UpTransition(nn.Module):
    def __init__(self, cin, cout, n, nk):
        super().__init__()
        self.up_conv = nn.ConvTranspose3d(cin, cout // 2, 2, stride=2)
        self.bn1 = norm(nk, cout // 2)
        self.relu1 = nn.PReLU(cout // 2)
        self.relu2 = nn.PReLU(cout)
        self.ops = nn.Sequential(*[LUConv(cout, nk) for _ in range(n)])

    def forward(self, x, skip):
        xcat = torch.cat([self.relu1(self.bn1(self.up_conv(x))), skip], 1)
        return self.relu2(self.ops(xcat) + xcat)


class OutputTransition(nn.Module):
    def __init__(self, cin, classes, nk):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, classes, 5, padding=2)
        self.bn1 = norm(nk, classes)
        self.conv2 = nn.Conv3d(classes, classes, 1)
        self.relu1 = nn.PReLU(classes)

    def forward(self, x):
        return self.conv2(self.relu1(self.bn1(self.conv1(x))))


class VNet(nn.Module):
    def __init__(self, cin=1, classes=2, base=16, depth=5, nk="batch"):
        super().__init__()
        self.depth = depth
        self.in_tr = InputTransition(cin, base, nk)
        self.down_tr = nn.ModuleList()
        c = base
        for k in range(2, depth + 1):
            self.down_tr.append(DownTransition(c, min(k, 3), nk))
            c *= 2
        self.up_tr = nn.ModuleList()
        for k in range(depth - 1, 0, -1):
            out = 2 * base * 2 ** (k - 1)
            self.up_tr.append(UpTransition(c, out, min(k, 3), nk))
            c = out
        self.out_tr = OutputTransition(c, classes, nk)

    def forward(self, x):
        skips = [self.in_tr(x)]
        for d in self.down_tr:
            skips.append(d(skips[-1]))
        x = skips.pop()
        for u in self.up_tr:
            x = u(x, skips.pop())
        return self.out_tr(x)


def nparams(m):
    return sum(p.numel() for p in m.parameters())


counts = {
    "unet3d_paper": nparams(UNet3D()),
    "unet3d_bench": nparams(UNet3D(1, 2, 16, 4)),
    "vnet_paper": nparams(VNet()),
}
with open("spec/ref/volume_models_torch.lua", "w") as f:
    f.write("-- generated by spec/ref/gen_volume_models.py with torch %s; do not edit\n" % torch.__version__)
    f.write("return {\n")
    for k, v in counts.items():
        f.write("  %s = %d,\n" % (k, v))
    f.write("}\n")

torch.manual_seed(5)
tiny = {
    "unet3d": (UNet3D(2, 3, 2, 3), (2, 2, 8, 4, 12)),
    "unet3d_instance": (UNet3D(1, 2, 2, 2, "instance"), (2, 1, 4, 6, 2)),
    "vnet": (VNet(1, 2, 2, 3), (2, 1, 8, 4, 4)),
}


def write_safetensors(path, tensors, meta):
    print("%s: %d bytes" % (path, _st.write(path, tensors, meta)))


for name, (net, shape) in tiny.items():
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm3d, nn.InstanceNorm3d)) and m.weight is not None:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.5)
        net.train()
        for _ in range(2):
            net(torch.randn(*shape) * 2 + 0.5)
        net.eval()
        x = torch.randn(*shape)
        y = net(x)
    sd = net.state_dict()
    tensors = dict(sd)
    tensors["test.input"] = x
    tensors["test.output"] = y
    write_safetensors("spec/ref/volume_%s.safetensors" % name, tensors,
                      {"torch": torch.__version__, "keys": ",".join(sd.keys())})
print(counts)
