#!/usr/bin/python3
"""gen_models.py: PyTorch 1.13 twins of the model zoo, to check models/*.lua against them (run
with /usr/bin/python3 from the repo root).

Writes
  spec/ref/models_torch.lua     parameter counts of the published configurations, counted
                                as PyTorch does (sum of p.numel() over model.parameters())
  spec/ref/models_<name>.safetensors   for one tiny configuration of each model: its state
                                dict (after two training-mode forwards, so BN statistics are
                                not trivial), an input "test.input" and the eval-mode output
                                "test.output"; the metadata entry "keys" lists the state-dict
                                keys in PyTorch's order.

The PyTorch modules below are written from the papers and the reference implementations'
structure (module names and order as bfortuner/pytorch_tiramisu, HRNet-Semantic-Segmentation's
seg_hrnet.py, torchvision's ResNet); the configurations mirror the Lua options.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _st  # noqa: E402

import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------- Tiramisu


class DenseLayer(nn.Sequential):
    def __init__(self, cin, growth, p):
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(cin))
        self.add_module("relu", nn.ReLU())
        self.add_module("conv", nn.Conv2d(cin, growth, 3, padding=1))
        self.add_module("drop", nn.Dropout2d(p))


class DenseBlock(nn.Module):
    def __init__(self, cin, growth, n, p, new_only):
        super().__init__()
        self.new_only = new_only
        self.layers = nn.ModuleList([DenseLayer(cin + i * growth, growth, p) for i in range(n)])

    def forward(self, x):
        new = []
        for layer in self.layers:
            out = layer(x)
            new.append(out)
            x = torch.cat([x, out], 1)
        return torch.cat(new, 1) if self.new_only else x


class TransitionDown(nn.Sequential):
    def __init__(self, c, p):
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(c))
        self.add_module("relu", nn.ReLU())
        self.add_module("conv", nn.Conv2d(c, c, 1))
        self.add_module("drop", nn.Dropout2d(p))
        self.add_module("maxpool", nn.MaxPool2d(2))


class TransitionUp(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.convTrans = nn.ConvTranspose2d(cin, cout, 3, stride=2)

    def forward(self, x, skip):
        out = self.convTrans(x)
        h, w = skip.shape[2], skip.shape[3]
        top, left = (out.shape[2] - h) // 2, (out.shape[3] - w) // 2
        return torch.cat([out[:, :, top:top + h, left:left + w], skip], 1)


class Bottleneck(nn.Sequential):
    def __init__(self, cin, growth, n, p):
        super().__init__()
        self.add_module("bottleneck", DenseBlock(cin, growth, n, p, True))


class Tiramisu(nn.Module):
    def __init__(self, cin, classes, down, up, bottleneck, growth, first=48, p=0.2):
        super().__init__()
        self.firstconv = nn.Conv2d(cin, first, 3, padding=1)
        c, skips = first, []
        self.denseBlocksDown = nn.ModuleList()
        self.transDownBlocks = nn.ModuleList()
        for n in down:
            self.denseBlocksDown.append(DenseBlock(c, growth, n, p, False))
            c += growth * n
            skips.insert(0, c)
            self.transDownBlocks.append(TransitionDown(c, p))
        self.bottleneck = Bottleneck(c, growth, bottleneck, p)
        prev = growth * bottleneck
        self.transUpBlocks = nn.ModuleList()
        self.denseBlocksUp = nn.ModuleList()
        for i, n in enumerate(up):
            self.transUpBlocks.append(TransitionUp(prev, prev))
            c = prev + skips[i]
            self.denseBlocksUp.append(DenseBlock(c, growth, n, p, i < len(up) - 1))
            prev = growth * n
            c += prev
        self.finalConv = nn.Conv2d(c, classes, 1)
        self.pool_levels = len(down)

    def forward(self, x):
        H, W = x.shape[2], x.shape[3]
        m = 2 ** self.pool_levels
        x = F.pad(x, (0, (-W) % m, 0, (-H) % m))
        x = self.firstconv(x)
        skips = []
        for block, down in zip(self.denseBlocksDown, self.transDownBlocks):
            x = block(x)
            skips.append(x)
            x = down(x)
        x = self.bottleneck(x)
        for up, block in zip(self.transUpBlocks, self.denseBlocksUp):
            x = block(up(x, skips.pop()))
        return self.finalConv(x)[:, :, :H, :W]


TIRAMISU = {56: ([4] * 5, 4, 12), 67: ([5] * 5, 5, 16), 103: ([4, 5, 7, 10, 12], 15, 16)}


def tiramisu(variant, cin=3, classes=11, **kw):
    down, bottleneck, growth = TIRAMISU[variant]
    down = kw.pop("down", down)
    return Tiramisu(cin, classes, down, down[::-1], kw.pop("bottleneck", bottleneck),
                    kw.pop("growth", growth), **kw)

# --------------------------------------------------------------------------- ResNet blocks


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, dilation, dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class BottleneckBlock(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


def make_layer(block, cin, planes, n, stride=1, dilation=1):
    out = planes * block.expansion
    ds = None
    if stride != 1 or cin != out:
        ds = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))
    layers = [block(cin, planes, stride, dilation, ds)] + [block(out, planes, 1, dilation) for _ in range(n - 1)]
    return nn.Sequential(*layers), out

# --------------------------------------------------------------------------- HRNet


def conv_bn(cin, cout, k, stride, relu):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*(layers + [nn.ReLU()] if relu else layers))


class HRModule(nn.Module):
    def __init__(self, channels, nblocks, align_corners):
        super().__init__()
        nb = len(channels)
        self.align_corners = align_corners
        self.branches = nn.ModuleList([make_layer(BasicBlock, c, c, nblocks)[0] for c in channels])
        rows = []
        for i in range(nb):
            row = []
            for j in range(nb):
                if j > i:
                    row.append(conv_bn(channels[j], channels[i], 1, 1, False))
                elif j == i:
                    row.append(None)
                else:
                    row.append(nn.Sequential(*[
                        conv_bn(channels[j], channels[i] if k == i - j - 1 else channels[j], 3, 2, k < i - j - 1)
                        for k in range(i - j)]))
            rows.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(rows)
        self.relu = nn.ReLU()

    def forward(self, xs):
        ys = [b(x) for b, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            acc = ys[i]
            for j, f in enumerate(row):
                if j > i:
                    acc = acc + F.interpolate(f(ys[j]), size=ys[i].shape[2:], mode="bilinear",
                                              align_corners=self.align_corners)
                elif j < i:
                    acc = acc + f(ys[j])
            out.append(self.relu(acc))
        return out


class HRNet(nn.Module):
    def __init__(self, width, classes, cin=3, stem=64, s1_blocks=4, s1_planes=64, modules=(1, 4, 3),
                 blocks=4, align_corners=False):
        super().__init__()
        self.align_corners = align_corners
        self.conv1 = nn.Conv2d(cin, stem, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.conv2 = nn.Conv2d(stem, stem, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU()
        self.layer1, c1 = make_layer(BottleneckBlock, stem, s1_planes, s1_blocks)
        pre = [c1]
        for s in range(2, 5):
            cur = [width * 2 ** b for b in range(s)]
            trans = []
            for b in range(s):
                if b < len(pre):
                    trans.append(conv_bn(pre[b], cur[b], 3, 1, True) if cur[b] != pre[b] else None)
                else:
                    n = b + 1 - len(pre)
                    trans.append(nn.Sequential(*[conv_bn(pre[-1], cur[b] if k == n - 1 else pre[-1], 3, 2, True)
                                                 for k in range(n)]))
            setattr(self, "transition%d" % (s - 1), nn.ModuleList(trans))
            setattr(self, "stage%d" % s, nn.Sequential(*[HRModule(cur, blocks, align_corners)
                                                         for _ in range(modules[s - 2])]))
            pre = cur
        last = sum(pre)
        self.last_layer = nn.Sequential(nn.Conv2d(last, last, 1), nn.BatchNorm2d(last), nn.ReLU(),
                                        nn.Conv2d(last, classes, 1))

    def forward(self, x):
        H, W = x.shape[2:]
        x = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))
        xs = [self.layer1(x)]
        for s in range(2, 5):
            trans = getattr(self, "transition%d" % (s - 1))
            xs = [t(xs[b] if b < len(xs) else xs[-1]) if t is not None else xs[b] for b, t in enumerate(trans)]
            xs = getattr(self, "stage%d" % s)(xs)
        ups = [xs[0]] + [F.interpolate(t, size=xs[0].shape[2:], mode="bilinear", align_corners=self.align_corners)
                         for t in xs[1:]]
        x = self.last_layer(torch.cat(ups, 1))
        return F.interpolate(x, size=(H, W), mode="bilinear", align_corners=self.align_corners)

# --------------------------------------------------------------------------- DeepLabv3+


class ResNet(nn.Module):
    def __init__(self, depth, cin=3, width=64, output_stride=16):
        super().__init__()
        block, counts = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
                         50: (BottleneckBlock, [3, 4, 6, 3])}[depth]
        sd = [(1, 1), (2, 1), (2, 1), (2, 1)]
        if output_stride <= 16:
            sd[3] = (1, 2)
        if output_stride == 8:
            sd[2], sd[3] = (1, 2), (1, 4)
        self.conv1 = nn.Conv2d(cin, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c, self.channels = width, []
        for i in range(4):
            layer, c = make_layer(block, c, width * 2 ** i, counts[i], *sd[i])
            setattr(self, "layer%d" % (i + 1), layer)
            self.channels.append(c)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        feats = []
        for i in range(4):
            x = getattr(self, "layer%d" % (i + 1))(x)
            feats.append(x)
        return feats


class SeparableConv2d(nn.Module):
    def __init__(self, cin, cout, d):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, 1, d, d, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def c3(cin, cout, d, sep):
    conv = SeparableConv2d(cin, cout, d) if sep else nn.Conv2d(cin, cout, 3, 1, d, d, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU())


def c1(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ASPPPooling(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = c1(cin, cout)

    def forward(self, x):
        return self.conv(self.pool(x)).expand(-1, -1, x.shape[2], x.shape[3])


class ASPP(nn.Module):
    def __init__(self, cin, cout, rates, sep, p):
        super().__init__()
        self.convs = nn.ModuleList([c1(cin, cout)] + [c3(cin, cout, r, sep) for r in rates] + [ASPPPooling(cin, cout)])
        self.project = nn.Sequential(nn.Conv2d(cout * (len(rates) + 2), cout, 1, bias=False), nn.BatchNorm2d(cout),
                                     nn.ReLU(), nn.Dropout(p))

    def forward(self, x):
        return self.project(torch.cat([b(x) for b in self.convs], 1))


class Decoder(nn.Module):
    def __init__(self, c_aspp, c_low_in, c_low, c_out, sep):
        super().__init__()
        self.low = c1(c_low_in, c_low)
        self.fuse = nn.Sequential(c3(c_aspp + c_low, c_out, 1, sep), c3(c_out, c_out, 1, sep))


class DeepLab(nn.Module):
    def __init__(self, classes, depth=18, cin=3, width=64, output_stride=16, aspp=256, low=48, dec=256,
                 sep=True, align_corners=False):
        super().__init__()
        self.align_corners = align_corners
        self.encoder = ResNet(depth, cin, width, output_stride)
        ch = self.encoder.channels
        rates = [6, 12, 18] if output_stride == 16 else [12, 24, 36]
        self.aspp = ASPP(ch[3], aspp, rates, sep, 0.5)
        self.decoder = Decoder(aspp, ch[0], low, dec, sep)
        self.classifier = nn.Conv2d(dec, classes, 1)

    def forward(self, x):
        H, W = x.shape[2:]
        feats = self.encoder(x)
        a = self.aspp(feats[3])
        lo = feats[0]
        a = F.interpolate(a, size=lo.shape[2:], mode="bilinear", align_corners=self.align_corners)
        y = self.classifier(self.decoder.fuse(torch.cat([a, self.decoder.low(lo)], 1)))
        return F.interpolate(y, size=(H, W), mode="bilinear", align_corners=self.align_corners)

# --------------------------------------------------------------------------- outputs


def count(m):
    return sum(p.numel() for p in m.parameters())


counts = {
    "tiramisu56": count(tiramisu(56)), "tiramisu67": count(tiramisu(67)), "tiramisu103": count(tiramisu(103)),
    "hrnet_w18": count(HRNet(18, 19)), "hrnet_w32": count(HRNet(32, 19)), "hrnet_w48": count(HRNet(48, 19)),
    "hrnet_w16_small_v1": count(HRNet(16, 19, s1_blocks=1, s1_planes=32, modules=(1, 1, 1), blocks=2)),
    "hrnet_w18_small_v2": count(HRNet(18, 19, s1_blocks=2, s1_planes=64, modules=(1, 3, 2), blocks=2)),
    "deeplabv3plus_resnet18": count(DeepLab(21, 18)), "deeplabv3plus_resnet34": count(DeepLab(21, 34)),
    "deeplabv3plus_resnet50": count(DeepLab(21, 50)),
}
try:  # torchvision's ResNets without their fc layer, when torchvision is installed
    import torchvision
    for d in (18, 34, 50):
        r = getattr(torchvision.models, "resnet%d" % d)()
        counts["torchvision_resnet%d_no_fc" % d] = count(r) - count(r.fc)
except ImportError:
    pass

with open("spec/ref/models_torch.lua", "w") as f:
    f.write("-- generated by spec/ref/gen_models.py (PyTorch %s); do not edit\nreturn {\n" % torch.__version__)
    for k in sorted(counts):
        f.write("  %s = %d,\n" % (k, counts[k]))
    f.write("}\n")

# Tiny configurations (the Lua options are in models_spec.lua).
torch.manual_seed(0)
tiny = {
    "tiramisu": (tiramisu(56, cin=3, classes=3, down=[2, 3], bottleneck=2, growth=3, first=4), (2, 3, 13, 11)),
    "hrnet": (HRNet(2, 3, stem=4, s1_blocks=2, s1_planes=2, modules=(1, 2, 1), blocks=2), (2, 3, 37, 29)),
    "hrnet_ac": (HRNet(2, 3, stem=4, s1_blocks=1, s1_planes=2, modules=(1, 1, 1), blocks=1, align_corners=True),
                 (2, 3, 19, 23)),
    "deeplab": (DeepLab(3, 18, width=2, aspp=4, low=3, dec=4), (2, 3, 37, 29)),
    "deeplab_os8": (DeepLab(3, 50, width=2, output_stride=8, aspp=4, low=3, dec=4, sep=False), (2, 3, 21, 27)),
}


def write_safetensors(path, tensors, meta):
    print("%s: %d bytes" % (path, _st.write(path, tensors, meta)))


for name, (net, shape) in tiny.items():
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
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
    write_safetensors("spec/ref/models_%s.safetensors" % name, tensors,
                      {"torch": torch.__version__, "keys": ",".join(sd.keys())})
print(counts)
