#!/usr/bin/python3
"""gen_modules.py: writes spec/ref/modules.safetensors (run with /usr/bin/python3 from the repo
root): the state dict of a small PyTorch 1.13 model (ModuleList of conv/BN blocks, max pool,
transposed conv, GroupNorm, Sequential head) after two training-mode forwards (so the
BatchNorm running statistics and num_batches_tracked are non-trivial), plus an input
"test.input" and the eval-mode output "test.output". The metadata entry "keys" lists the
state-dict keys in PyTorch's order. The safetensors file is written by spec/ref/_st.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _st  # noqa: E402

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv2(F.relu(self.bn(self.conv1(x))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.ModuleList([Block(3, 4), Block(4, 4)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)
        self.gn = nn.GroupNorm(2, 4)
        self.head = nn.Sequential(nn.Conv2d(4, 3, 1), nn.LeakyReLU(0.1))

    def forward(self, x):
        for b in self.down:
            x = b(x)
        return self.head(self.gn(self.up(self.pool(x))))


net = Net()
with torch.no_grad():
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
net.train()
with torch.no_grad():
    for _ in range(2):
        net(torch.randn(4, 3, 8, 8) * 2 + 0.5)
net.eval()
x = torch.randn(2, 3, 8, 8)
with torch.no_grad():
    y = net(x)

sd = net.state_dict()
tensors = dict(sd)
tensors["test.input"] = x
tensors["test.output"] = y

_st.write("spec/ref/modules.safetensors", tensors, {"keys": ",".join(sd.keys()), "torch": torch.__version__})
