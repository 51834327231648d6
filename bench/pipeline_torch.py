#!/usr/bin/python3
"""bench/pipeline_torch.py DIR WORKERS [EPOCHS]: the pipeline of bench/pipeline.lua in
PyTorch: a Dataset that decodes DIR/img/*.jpg with PIL (libjpeg-turbo) and its mask PNG,
flips both (Image.transpose), rotates by +-30 degrees (PIL rotate: bilinear image, nearest
mask filled with 255), takes a random 224 crop, applies brightness/contrast through a
uint8 lookup table and normalizes in float32 (numpy), returning CHW float32 and HW int32
tensors; torch.utils.data.DataLoader(batch_size=16, shuffle=True, num_workers=WORKERS).
Prints "torch <workers> <images/s> <images per CPU second>" over EPOCHS epochs (default 3;
CPU time of this process and its workers, user + system), worker start-up
included; persistent_workers=True (as in bench/pipeline.lua)."""
import glob
import random
import resource
import sys
import time

import numpy as np
import torch
from PIL import Image

root = sys.argv[1]
workers = int(sys.argv[2]) if len(sys.argv) > 2 else 0
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
INV_STD = 1.0 / (np.array([0.229, 0.224, 0.225], np.float32) * 255)


class Folder(torch.utils.data.Dataset):
    def __init__(self, root):
        self.images = sorted(glob.glob(root + "/img/*.jpg"))
        self.masks = [p.replace("/img/", "/mask/").replace(".jpg", ".png") for p in self.images]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = Image.open(self.images[i]).convert("RGB")
        mask = Image.open(self.masks[i])
        img, mask = img.transpose(Image.FLIP_LEFT_RIGHT), mask.transpose(Image.FLIP_LEFT_RIGHT)
        angle = random.uniform(-30, 30)
        img = img.rotate(angle, resample=Image.BILINEAR, fillcolor=(0, 0, 0))
        mask = mask.rotate(angle, resample=Image.NEAREST, fillcolor=255)
        a, m = np.asarray(img), np.asarray(mask)
        h, w = m.shape
        y, x = random.randint(0, h - 224), random.randint(0, w - 224)
        a, m = a[y:y + 224, x:x + 224], m[y:y + 224, x:x + 224]
        alpha, beta = 1 + random.uniform(-0.2, 0.2), random.uniform(-0.2, 0.2) * 255
        lut = np.clip(np.arange(256, dtype=np.float32) * alpha + beta, 0, 255).round().astype(np.uint8)
        a = (lut[a].astype(np.float32) - MEAN) * INV_STD
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))), torch.from_numpy(m.astype(np.int32))


loader = torch.utils.data.DataLoader(Folder(root), batch_size=16, shuffle=True, num_workers=workers,
                                     persistent_workers=workers > 0)


def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


n, t0, c0 = 0, time.perf_counter(), cpu()
for _ in range(epochs):
    for img, mask in loader:
        assert img.shape[2] == 224 and mask.shape[1] == 224
        n += img.shape[0]
wall = time.perf_counter() - t0
if workers:
    loader._iterator._shutdown_workers()  # joins the workers, so their CPU time counts
print("torch %d %.1f %.1f" % (workers, n / wall, n / (cpu() - c0)))
