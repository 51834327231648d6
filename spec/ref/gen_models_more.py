#!/usr/bin/python3
"""gen_models_more.py: PyTorch 1.13 twins of the second part of the model zoo (U^2-Net,
SegNet, FCN-32s/16s/8s, PSPNet, UNet++, Attention U-Net, stacked hourglass), to check
models/*.lua against them (run with /usr/bin/python3 from the repo root).

Writes
  spec/ref/models_more_torch.lua    parameter counts of the published configurations,
                                    counted as PyTorch does (sum of p.numel())
  spec/ref/more_<name>.safetensors  for one SMALL configuration of each model (reduced
                                    widths and inputs, so the files stay small): its state
                                    dict (after two training-mode forwards, so BN statistics
                                    are not trivial), an input "test.input" and the eval-mode
                                    output(s) "test.output.1", "test.output.2", ...; the
                                    metadata entry "keys" lists the state-dict keys in
                                    PyTorch's order.

The modules below are written from the papers and the structure of the reference code
(module names, order and shapes as xuebinqin/U-2-Net model/u2net.py, delta-onera/segnet_pytorch,
wkentaro/pytorch-fcn, hszhao/semseg model/pspnet.py + model/resnet.py (deep base),
4uiiurz1/pytorch-nested-unet archs.py, LeeJunHyun/Image_Segmentation network.py,
bearpaw/pytorch-pose models/hourglass.py); widths are parameters so that one class gives
both the published configuration and the small one. The exact published parameter counts
(44,009,869 for U2NET(3, 1), ...) confirm each structure. Each configuration mirrors the Lua
options in spec/zoo_more_spec.lua.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _st  # noqa: E402

import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------- U^2-Net


class REBNCONV(nn.Module):
    def __init__(self, cin, cout, dirate=1):
        super().__init__()
        self.conv_s1 = nn.Conv2d(cin, cout, 3, padding=dirate, dilation=dirate)
        self.bn_s1 = nn.BatchNorm2d(cout)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


def up_like(src, tar):
    return F.interpolate(src, size=tar.shape[2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """RSU-L (L = height 4..7): L-1 encoder convs with L-2 ceil-mode poolings, a dilated
    bottom conv, L-1 decoder convs; residual hx1d + hxin."""

    def __init__(self, height, cin, mid, cout):
        super().__init__()
        self.height = height
        self.rebnconvin = REBNCONV(cin, cout, 1)
        self.rebnconv1 = REBNCONV(cout, mid, 1)
        for i in range(2, height):
            setattr(self, "pool%d" % (i - 1), nn.MaxPool2d(2, stride=2, ceil_mode=True))
            setattr(self, "rebnconv%d" % i, REBNCONV(mid, mid, 1))
        setattr(self, "rebnconv%d" % height, REBNCONV(mid, mid, 2))
        for i in range(height - 1, 1, -1):
            setattr(self, "rebnconv%dd" % i, REBNCONV(mid * 2, mid, 1))
        self.rebnconv1d = REBNCONV(mid * 2, cout, 1)

    def forward(self, x):
        L = self.height
        hxin = self.rebnconvin(x)
        hs = [self.rebnconv1(hxin)]
        for i in range(2, L):
            hs.append(getattr(self, "rebnconv%d" % i)(getattr(self, "pool%d" % (i - 1))(hs[-1])))
        hd = getattr(self, "rebnconv%d" % L)(hs[-1])
        for i in range(L - 1, 0, -1):
            name = "rebnconv%dd" % i
            hd = getattr(self, name)(torch.cat((hd, hs[i - 1]), 1))
            if i > 1:
                hd = up_like(hd, hs[i - 2])
        return hd + hxin


class RSU4F(nn.Module):
    def __init__(self, cin, mid, cout):
        super().__init__()
        self.rebnconvin = REBNCONV(cin, cout, 1)
        self.rebnconv1 = REBNCONV(cout, mid, 1)
        self.rebnconv2 = REBNCONV(mid, mid, 2)
        self.rebnconv3 = REBNCONV(mid, mid, 4)
        self.rebnconv4 = REBNCONV(mid, mid, 8)
        self.rebnconv3d = REBNCONV(mid * 2, mid, 4)
        self.rebnconv2d = REBNCONV(mid * 2, mid, 2)
        self.rebnconv1d = REBNCONV(mid * 2, cout, 1)

    def forward(self, x):
        hxin = self.rebnconvin(x)
        hx1 = self.rebnconv1(hxin)
        hx2 = self.rebnconv2(hx1)
        hx3 = self.rebnconv3(hx2)
        hx4 = self.rebnconv4(hx3)
        hx3d = self.rebnconv3d(torch.cat((hx4, hx3), 1))
        hx2d = self.rebnconv2d(torch.cat((hx3d, hx2), 1))
        hx1d = self.rebnconv1d(torch.cat((hx2d, hx1), 1))
        return hx1d + hxin


def rsu(height, cin, mid, cout):
    return RSU4F(cin, mid, cout) if height == 0 else RSU(height, cin, mid, cout)


def u2net_config(variant, base=None, mid=None, out=None):
    """(encoder stages, decoder stages) as (height, cin, mid, cout); height 0 = RSU4F."""
    if variant == "full":
        b = base or 16
        enc = [(7, None, 2 * b, 4 * b), (6, 4 * b, 2 * b, 8 * b), (5, 8 * b, 4 * b, 16 * b),
               (4, 16 * b, 8 * b, 32 * b), (0, 32 * b, 16 * b, 32 * b), (0, 32 * b, 16 * b, 32 * b)]
        dec = [(0, 64 * b, 16 * b, 32 * b), (4, 64 * b, 8 * b, 16 * b), (5, 32 * b, 4 * b, 8 * b),
               (6, 16 * b, 2 * b, 4 * b), (7, 8 * b, b, 4 * b)]
    else:
        m, o = mid or 16, out or 64
        enc = [(7, None, m, o), (6, o, m, o), (5, o, m, o), (4, o, m, o), (0, o, m, o), (0, o, m, o)]
        dec = [(0, 2 * o, m, o), (4, 2 * o, m, o), (5, 2 * o, m, o), (6, 2 * o, m, o), (7, 2 * o, m, o)]
    return enc, dec


class U2NET(nn.Module):
    def __init__(self, cin=3, cout=1, variant="full", **kw):
        super().__init__()
        enc, dec = u2net_config(variant, **kw)
        for i, (h, a, m, o) in enumerate(enc):
            setattr(self, "stage%d" % (i + 1), rsu(h, cin if a is None else a, m, o))
            if i < 5:
                setattr(self, "pool%d%d" % (i + 1, i + 2), nn.MaxPool2d(2, stride=2, ceil_mode=True))
        for i, (h, a, m, o) in enumerate(dec):
            setattr(self, "stage%dd" % (5 - i), rsu(h, a, m, o))
        side_in = [dec[4][3], dec[3][3], dec[2][3], dec[1][3], dec[0][3], enc[5][3]]
        for i, c in enumerate(side_in):
            setattr(self, "side%d" % (i + 1), nn.Conv2d(c, cout, 3, padding=1))
        self.outconv = nn.Conv2d(6 * cout, cout, 1)

    def forward(self, x):
        hx = x
        enc = []
        for i in range(6):
            hx = getattr(self, "stage%d" % (i + 1))(hx)
            enc.append(hx)
            if i < 5:
                hx = getattr(self, "pool%d%d" % (i + 1, i + 2))(hx)
        hd = enc[5]
        dec = {6: hd}
        for s in range(5, 0, -1):
            hd = getattr(self, "stage%dd" % s)(torch.cat((up_like(hd, enc[s - 1]), enc[s - 1]), 1))
            dec[s] = hd
        d1 = self.side1(dec[1])
        ds = [d1] + [up_like(getattr(self, "side%d" % s)(dec[s]), d1) for s in range(2, 7)]
        d0 = self.outconv(torch.cat(ds, 1))
        # the reference returns sigmoids; the twin returns logits, as lunet's models do
        return [d0] + ds


# --------------------------------------------------------------------------- VGG16 / SegNet / FCN

VGG16 = [2, 2, 3, 3, 3]


def vgg_widths(b):
    return [b, 2 * b, 4 * b, 8 * b, 8 * b]


class SegNet(nn.Module):
    """delta-onera/segnet_pytorch: VGG16-BN encoder (conv11..conv53, bn11..bn53), mirrored
    decoder (conv53d..conv11d, no BN after conv11d), max-unpooling with the pooling indices."""

    def __init__(self, cin, classes, base=64):
        super().__init__()
        w = vgg_widths(base)
        c = cin
        for s in range(5):
            for j in range(VGG16[s]):
                setattr(self, "conv%d%d" % (s + 1, j + 1), nn.Conv2d(c, w[s], 3, padding=1))
                setattr(self, "bn%d%d" % (s + 1, j + 1), nn.BatchNorm2d(w[s], momentum=0.1))
                c = w[s]
        for s in range(4, -1, -1):
            n = VGG16[s]
            for j in range(n, 0, -1):
                last = j == 1
                if last:
                    cout = classes if s == 0 else w[s - 1]
                else:
                    cout = w[s]
                setattr(self, "conv%d%dd" % (s + 1, j), nn.Conv2d(w[s], cout, 3, padding=1))
                if not (s == 0 and last):
                    setattr(self, "bn%d%dd" % (s + 1, j), nn.BatchNorm2d(cout, momentum=0.1))

    def forward(self, x):
        idx, sizes = [], []
        for s in range(5):
            for j in range(VGG16[s]):
                x = F.relu(getattr(self, "bn%d%d" % (s + 1, j + 1))(getattr(self, "conv%d%d" % (s + 1, j + 1))(x)))
            sizes.append(x.shape[2:])
            x, i = F.max_pool2d(x, kernel_size=2, stride=2, return_indices=True)
            idx.append(i)
        for s in range(4, -1, -1):
            x = F.max_unpool2d(x, idx[s], kernel_size=2, stride=2, output_size=sizes[s])
            for j in range(VGG16[s], 0, -1):
                x = getattr(self, "conv%d%dd" % (s + 1, j))(x)
                if not (s == 0 and j == 1):
                    x = F.relu(getattr(self, "bn%d%dd" % (s + 1, j))(x))
        return [x]


class FCN(nn.Module):
    """wkentaro/pytorch-fcn FCN32s / FCN16s / FCN8s: VGG16 with conv1_1 padded by 100, fc6 as
    a 7x7 conv, fc7 1x1, score layers and learned (bias-free) transposed convolutions, crops
    at 19 / 5, 27 / 5, 9, 31."""

    def __init__(self, variant, classes=21, cin=3, base=64, fc=4096):
        super().__init__()
        self.variant = variant
        w = vgg_widths(base)
        c = cin
        for s in range(5):
            for j in range(VGG16[s]):
                setattr(self, "conv%d_%d" % (s + 1, j + 1),
                        nn.Conv2d(c, w[s], 3, padding=100 if (s == 0 and j == 0) else 1))
                setattr(self, "relu%d_%d" % (s + 1, j + 1), nn.ReLU(inplace=True))
                c = w[s]
            setattr(self, "pool%d" % (s + 1), nn.MaxPool2d(2, stride=2, ceil_mode=True))
        self.fc6 = nn.Conv2d(w[4], fc, 7)
        self.relu6 = nn.ReLU(inplace=True)
        self.drop6 = nn.Dropout2d()
        self.fc7 = nn.Conv2d(fc, fc, 1)
        self.relu7 = nn.ReLU(inplace=True)
        self.drop7 = nn.Dropout2d()
        self.score_fr = nn.Conv2d(fc, classes, 1)
        n = classes
        if variant == 32:
            self.upscore = nn.ConvTranspose2d(n, n, 64, stride=32, bias=False)
        elif variant == 16:
            self.score_pool4 = nn.Conv2d(w[3], n, 1)
            self.upscore2 = nn.ConvTranspose2d(n, n, 4, stride=2, bias=False)
            self.upscore16 = nn.ConvTranspose2d(n, n, 32, stride=16, bias=False)
        else:
            self.score_pool3 = nn.Conv2d(w[2], n, 1)
            self.score_pool4 = nn.Conv2d(w[3], n, 1)
            self.upscore2 = nn.ConvTranspose2d(n, n, 4, stride=2, bias=False)
            self.upscore8 = nn.ConvTranspose2d(n, n, 16, stride=8, bias=False)
            self.upscore_pool4 = nn.ConvTranspose2d(n, n, 4, stride=2, bias=False)

    def forward(self, x):
        H, W = x.shape[2], x.shape[3]
        h = x
        pools = []
        for s in range(5):
            for j in range(VGG16[s]):
                h = F.relu(getattr(self, "conv%d_%d" % (s + 1, j + 1))(h))
            h = getattr(self, "pool%d" % (s + 1))(h)
            pools.append(h)
        h = self.drop6(F.relu(self.fc6(h)))
        h = self.drop7(F.relu(self.fc7(h)))
        h = self.score_fr(h)
        if self.variant == 32:
            h = self.upscore(h)
            return [h[:, :, 19:19 + H, 19:19 + W].contiguous()]
        h = self.upscore2(h)
        u = h
        p4 = self.score_pool4(pools[3])[:, :, 5:5 + u.shape[2], 5:5 + u.shape[3]]
        h = u + p4
        if self.variant == 16:
            h = self.upscore16(h)
            return [h[:, :, 27:27 + H, 27:27 + W].contiguous()]
        h = self.upscore_pool4(h)
        u = h
        p3 = self.score_pool3(pools[2])[:, :, 9:9 + u.shape[2], 9:9 + u.shape[3]]
        h = self.upscore8(u + p3)
        return [h[:, :, 31:31 + H, 31:31 + W].contiguous()]


# --------------------------------------------------------------------------- PSPNet


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        res = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + res)


def make_layer(inplanes, planes, n, stride, dilation):
    out = planes * 4
    ds = None
    if stride != 1 or inplanes != out:
        ds = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
    layers = [Bottleneck(inplanes, planes, stride, dilation, ds)]
    for _ in range(1, n):
        layers.append(Bottleneck(out, planes, 1, dilation))
    return nn.Sequential(*layers), out


class PPM(nn.Module):
    def __init__(self, cin, red, bins):
        super().__init__()
        self.features = nn.ModuleList([nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(cin, red, 1, bias=False),
                                                     nn.BatchNorm2d(red), nn.ReLU(inplace=True)) for b in bins])

    def forward(self, x):
        out = [x]
        for f in self.features:
            out.append(F.interpolate(f(x), x.shape[2:], mode="bilinear", align_corners=True))
        return torch.cat(out, 1)


class PSPNet(nn.Module):
    """hszhao/semseg PSPNet on its deep-base ResNet-50 (three 3x3 stem convs, 3->w->w->2w),
    layer3 / layer4 dilated 2 / 4 (output stride 8), PPM bins 1, 2, 3, 6, cls head (3x3 512,
    dropout 0.1, 1x1), aux head on layer3 (3x3 256, 1x1)."""

    def __init__(self, classes=21, cin=3, width=64, bins=(1, 2, 3, 6), head=512, aux=False, aux_ch=256):
        super().__init__()
        w = width
        self.layer0 = nn.Sequential(
            nn.Conv2d(cin, w, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1))
        c = 2 * w
        self.layer1, c = make_layer(c, w, 3, 1, 1)
        self.layer2, c = make_layer(c, 2 * w, 4, 2, 1)
        self.layer3, c3 = make_layer(c, 4 * w, 6, 1, 2)
        self.layer4, c = make_layer(c3, 8 * w, 3, 1, 4)
        self.ppm = PPM(c, c // len(bins), bins)
        c = c + (c // len(bins)) * len(bins)
        self.cls = nn.Sequential(nn.Conv2d(c, head, 3, padding=1, bias=False), nn.BatchNorm2d(head),
                                 nn.ReLU(inplace=True), nn.Dropout2d(p=0.1), nn.Conv2d(head, classes, 1))
        if aux:
            self.aux = nn.Sequential(nn.Conv2d(c3, aux_ch, 3, padding=1, bias=False), nn.BatchNorm2d(aux_ch),
                                     nn.ReLU(inplace=True), nn.Dropout2d(p=0.1), nn.Conv2d(aux_ch, classes, 1))
        else:
            self.aux = None

    def forward(self, x):
        H, W = x.shape[2], x.shape[3]
        x = self.layer2(self.layer1(self.layer0(x)))
        x3 = self.layer3(x)
        x = self.cls(self.ppm(self.layer4(x3)))
        outs = [F.interpolate(x, size=(H, W), mode="bilinear", align_corners=True)]
        if self.aux is not None:
            outs.append(F.interpolate(self.aux(x3), size=(H, W), mode="bilinear", align_corners=True))
        return outs


# --------------------------------------------------------------------------- UNet++


class VGGBlock(nn.Module):
    def __init__(self, cin, mid, cout):
        super().__init__()
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, mid, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, cout, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class NestedUNet(nn.Module):
    def __init__(self, classes, cin=3, deep_supervision=False, base=32):
        super().__init__()
        f = [base, 2 * base, 4 * base, 8 * base, 16 * base]
        self.deep_supervision = deep_supervision
        self.pool = nn.MaxPool2d(2, 2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        for i in range(5):
            setattr(self, "conv%d_0" % i, VGGBlock(cin if i == 0 else f[i - 1], f[i], f[i]))
        for j in range(1, 5):
            for i in range(0, 5 - j):
                setattr(self, "conv%d_%d" % (i, j), VGGBlock(f[i] * j + f[i + 1], f[i], f[i]))
        # PyTorch registers in the reference's order: conv0_0..conv4_0, conv0_1, conv1_1, ...
        if deep_supervision:
            for k in range(1, 5):
                setattr(self, "final%d" % k, nn.Conv2d(f[0], classes, 1))
        else:
            self.final = nn.Conv2d(f[0], classes, 1)

    def forward(self, x):
        H, W = x.shape[2], x.shape[3]
        x = F.pad(x, (0, (-W) % 16, 0, (-H) % 16))
        X = {}
        X[(0, 0)] = self.conv0_0(x)
        for i in range(1, 5):
            X[(i, 0)] = getattr(self, "conv%d_0" % i)(self.pool(X[(i - 1, 0)]))
            for j in range(1, i + 1):
                r = i - j
                X[(r, j)] = getattr(self, "conv%d_%d" % (r, j))(
                    torch.cat([X[(r, k)] for k in range(j)] + [self.up(X[(r + 1, j - 1)])], 1))
        if self.deep_supervision:
            return [getattr(self, "final%d" % k)(X[(0, k)])[:, :, :H, :W] for k in range(1, 5)]
        return [self.final(X[(0, 4)])[:, :, :H, :W]]


# --------------------------------------------------------------------------- Attention U-Net


def conv_block(cin, cout):
    m = nn.Module()
    m.conv = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                           nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
    m.forward = lambda x: m.conv(x)
    return m


def up_conv(cin, cout):
    m = nn.Module()
    m.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))
    m.forward = lambda x: m.up(x)
    return m


class AttentionBlock(nn.Module):
    def __init__(self, fg, fl, fint):
        super().__init__()
        self.W_g = nn.Sequential(nn.Conv2d(fg, fint, 1), nn.BatchNorm2d(fint))
        self.W_x = nn.Sequential(nn.Conv2d(fl, fint, 1), nn.BatchNorm2d(fint))
        self.psi = nn.Sequential(nn.Conv2d(fint, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, g, x):
        return x * self.psi(self.relu(self.W_g(g) + self.W_x(x)))


class AttU_Net(nn.Module):
    def __init__(self, cin=3, cout=1, base=64):
        super().__init__()
        f = [base, 2 * base, 4 * base, 8 * base, 16 * base]
        self.Maxpool = nn.MaxPool2d(2, 2)
        self.Conv1 = conv_block(cin, f[0])
        for i in range(1, 5):
            setattr(self, "Conv%d" % (i + 1), conv_block(f[i - 1], f[i]))
        for i in range(4, 0, -1):
            setattr(self, "Up%d" % (i + 1), up_conv(f[i], f[i - 1]))
            setattr(self, "Att%d" % (i + 1), AttentionBlock(f[i - 1], f[i - 1], f[i - 1] // 2))
            setattr(self, "Up_conv%d" % (i + 1), conv_block(f[i], f[i - 1]))
        self.Conv_1x1 = nn.Conv2d(f[0], cout, 1)

    def forward(self, x):
        H, W = x.shape[2], x.shape[3]
        x = F.pad(x, (0, (-W) % 16, 0, (-H) % 16))
        xs = [self.Conv1(x)]
        for i in range(2, 6):
            xs.append(getattr(self, "Conv%d" % i)(self.Maxpool(xs[-1])))
        d = xs[4]
        for i in range(5, 1, -1):
            d = getattr(self, "Up%d" % i)(d)
            s = getattr(self, "Att%d" % i)(d, xs[i - 2])
            d = getattr(self, "Up_conv%d" % i)(torch.cat((s, d), 1))
        return [self.Conv_1x1(d)[:, :, :H, :W]]


# --------------------------------------------------------------------------- stacked hourglass


class HGBottleneck(nn.Module):
    expansion = 2

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = nn.Conv2d(inplanes, planes, 1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 2, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        res = self.downsample(x) if self.downsample is not None else x
        return out + res


class Hourglass(nn.Module):
    def __init__(self, num_blocks, planes, depth):
        super().__init__()
        self.depth = depth
        hg = []
        for i in range(depth):
            res = [nn.Sequential(*[HGBottleneck(planes * 2, planes) for _ in range(num_blocks)])
                   for _ in range(4 if i == 0 else 3)]
            hg.append(nn.ModuleList(res))
        self.hg = nn.ModuleList(hg)

    def fwd(self, n, x):
        up1 = self.hg[n - 1][0](x)
        low1 = self.hg[n - 1][1](F.max_pool2d(x, 2, stride=2))
        low2 = self.fwd(n - 1, low1) if n > 1 else self.hg[n - 1][3](low1)
        low3 = self.hg[n - 1][2](low2)
        return up1 + F.interpolate(low3, scale_factor=2)

    def forward(self, x):
        return self.fwd(self.depth, x)


class HourglassNet(nn.Module):
    def __init__(self, num_stacks=2, num_blocks=1, num_classes=16, cin=3, feats=128):
        super().__init__()
        self.inplanes = feats // 2
        self.num_feats = feats
        self.num_stacks = num_stacks
        self.conv1 = nn.Conv2d(cin, self.inplanes, 7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_residual(self.inplanes, 1)
        self.layer2 = self._make_residual(self.inplanes, 1)
        self.layer3 = self._make_residual(self.num_feats, 1)
        self.maxpool = nn.MaxPool2d(2, stride=2)
        ch = feats * 2
        hg, res, fc, score, fc_, score_ = [], [], [], [], [], []
        for i in range(num_stacks):
            hg.append(Hourglass(num_blocks, feats, 4))
            res.append(self._make_residual(feats, num_blocks))
            fc.append(nn.Sequential(nn.Conv2d(ch, ch, 1), nn.BatchNorm2d(ch), self.relu))
            score.append(nn.Conv2d(ch, num_classes, 1))
            if i < num_stacks - 1:
                fc_.append(nn.Conv2d(ch, ch, 1))
                score_.append(nn.Conv2d(num_classes, ch, 1))
        self.hg = nn.ModuleList(hg)
        self.res = nn.ModuleList(res)
        self.fc = nn.ModuleList(fc)
        self.score = nn.ModuleList(score)
        self.fc_ = nn.ModuleList(fc_)
        self.score_ = nn.ModuleList(score_)

    def _make_residual(self, planes, blocks, stride=1):
        ds = None
        if stride != 1 or self.inplanes != planes * 2:
            ds = nn.Sequential(nn.Conv2d(self.inplanes, planes * 2, 1, stride=stride))
        layers = [HGBottleneck(self.inplanes, planes, stride, ds)]
        self.inplanes = planes * 2
        for _ in range(1, blocks):
            layers.append(HGBottleneck(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        out = []
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.maxpool(x)
        x = self.layer3(self.layer2(x))
        for i in range(self.num_stacks):
            y = self.fc[i](self.res[i](self.hg[i](x)))
            s = self.score[i](y)
            out.append(s)
            if i < self.num_stacks - 1:
                x = x + self.fc_[i](y) + self.score_[i](s)
        return out


# --------------------------------------------------------------------------- counts


def fnv1a(s):
    h = 2166136261
    for b in s.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def nparams(m):
    return sum(p.numel() for p in m.parameters())


def published():
    return {
        "u2net_full": U2NET(3, 1, "full"),
        "u2net_small": U2NET(3, 1, "small"),
        "segnet": SegNet(3, 11),
        "fcn32s": FCN(32),
        "fcn16s": FCN(16),
        "fcn8s": FCN(8),
        "pspnet": PSPNet(21),
        "pspnet_aux": PSPNet(21, aux=True),
        "unetpp": NestedUNet(1),
        "unetpp_ds": NestedUNet(1, deep_supervision=True),
        "attention_unet": AttU_Net(3, 1),
        "hourglass1": HourglassNet(1, 1, 16),
        "hourglass2": HourglassNet(2, 1, 16),
    }



def write_safetensors(path, tensors, meta):
    print("%s: %d bytes" % (path, _st.write(path, tensors, meta)))


# Small configurations (the Lua options are in spec/zoo_more_spec.lua).
def small():
    return {
        "u2net_small": (U2NET(3, 2, "small", mid=2, out=4), (2, 3, 19, 30)),
        "segnet": (SegNet(3, 3, base=2), (2, 3, 35, 45)),
        "fcn32s": (FCN(32, classes=3, base=2, fc=8), (2, 3, 21, 27)),
        "fcn16s": (FCN(16, classes=3, base=2, fc=8), (2, 3, 21, 27)),
        "fcn8s": (FCN(8, classes=3, base=2, fc=8), (2, 3, 21, 27)),
        "pspnet": (PSPNet(3, width=2, head=8, aux=True, aux_ch=4), (2, 3, 33, 27)),
        "unetpp": (NestedUNet(2, deep_supervision=True, base=2), (2, 3, 21, 19)),
        "attention_unet": (AttU_Net(3, 2, base=2), (2, 3, 21, 19)),
        "hourglass": (HourglassNet(2, 1, 3, feats=4), (2, 3, 64, 64)),
    }


def main():
    torch.manual_seed(0)
    nets = published()
    counts = {k: nparams(m) for k, m in nets.items()}
    # FNV-1a of the comma-joined state-dict keys (PyTorch order, 0-based indices)
    digests = {k: fnv1a(",".join(m.state_dict().keys())) for k, m in nets.items()}
    del nets
    with open("spec/ref/models_more_torch.lua", "w") as f:
        f.write("-- generated by spec/ref/gen_models_more.py (PyTorch %s); do not edit\nreturn {\n" % torch.__version__)
        for k in sorted(counts):
            f.write("  %s = %d,\n" % (k, counts[k]))
        f.write("  digests = {\n")
        for k in sorted(digests):
            f.write("    %s = %d,\n" % (k, digests[k]))
        f.write("  },\n")
        f.write("}\n")
    for k in sorted(counts):
        print("%-16s %12d" % (k, counts[k]))
    torch.manual_seed(0)
    for name, (net, shape) in small().items():
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
            ys = net(x)
        sd = net.state_dict()
        tensors = dict(sd)
        tensors["test.input"] = x
        for i, y in enumerate(ys):
            tensors["test.output.%d" % (i + 1)] = y
        write_safetensors("spec/ref/more_%s.safetensors" % name, tensors,
                          {"torch": torch.__version__, "keys": ",".join(sd.keys())})


if __name__ == "__main__":
    main()
