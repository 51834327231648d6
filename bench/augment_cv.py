#!/usr/bin/python3
"""bench/augment_cv.py: the pipeline of bench/augment.lua with OpenCV + numpy, as
albumentations runs it (HWC uint8 image, uint8 mask): cv2.flip, cv2.warpAffine (bilinear
image, nearest mask, constant border), a random 224x224 crop (copied), brightness/contrast
through a cv2.LUT, normalize in float32. Prints "opencv <img/s by wall clock> <img/s by
process CPU time>".
usage: /usr/bin/python3 bench/augment_cv.py [threads] [seconds]"""
import sys
import time

import cv2
import numpy as np

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
cv2.setNumThreads(threads)
rng = np.random.default_rng(1)
samples = [(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
            rng.integers(0, 21, (256, 256), dtype=np.uint8)) for _ in range(8)]
mean = np.array([0.485, 0.456, 0.406], np.float32) * 255
inv_std = 1.0 / (np.array([0.229, 0.224, 0.225], np.float32) * 255)


def pipeline(img, mask):
    img, mask = cv2.flip(img, 1), cv2.flip(mask, 1)
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), rng.uniform(-30, 30), 1.0)
    img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    y, x = rng.integers(0, h - 224 + 1), rng.integers(0, w - 224 + 1)
    img = np.ascontiguousarray(img[y:y + 224, x:x + 224])
    mask = np.ascontiguousarray(mask[y:y + 224, x:x + 224])
    alpha, beta = 1 + rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2) * 255
    lut = np.clip(np.arange(256, dtype=np.float32) * alpha + beta, 0, 255).round().astype(np.uint8)
    img = cv2.LUT(img, lut)
    img = (img.astype(np.float32) - mean) * inv_std
    return img, mask


for i in range(20):
    pipeline(*samples[i % 8])
n, t0, c0 = 0, time.perf_counter(), time.process_time()
while time.perf_counter() - t0 < seconds:
    for _ in range(10):
        img, mask = pipeline(*samples[n % 8])
        n += 1
        assert img.shape == (224, 224, 3) and mask.shape == (224, 224)
print("opencv %.1f %.1f" % (n / (time.perf_counter() - t0), n / (time.process_time() - c0)))
