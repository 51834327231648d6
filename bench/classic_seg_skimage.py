#!/usr/bin/python3
"""bench/classic_seg_skimage.py: seconds of scikit-image's slic and felzenszwalb on the bench
image with the options of bench/classic_seg.lua. Prints
"<name> <N> <best wall seconds> <CPU seconds of that run> <segments>" per function.
usage: /usr/bin/python3 bench/classic_seg_skimage.py <png> <reps>"""
import sys
import time
from skimage import io
from skimage.segmentation import slic, felzenszwalb

path, reps = sys.argv[1], int(sys.argv[2])
img = io.imread(path)[:, :, :3]
n = img.shape[0]


def best(name, f):
    bw, bc, extra = float("inf"), 0.0, ""
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        extra = f()
        w, c = time.perf_counter() - t0, time.process_time() - c0
        if w < bw:
            bw, bc = w, c
    print(f"{name} {n} {bw:.4f} {bc:.4f} {extra}", flush=True)


best("slic", lambda: int(slic(img, n_segments=400, compactness=10).max()))
best("felzenszwalb", lambda: int(felzenszwalb(img, scale=100, sigma=0.8, min_size=50).max()) + 1)
