#!/usr/bin/python3
"""bench/classic_skimage.py SIZE REPS: the operations of bench/classic.lua with scikit-image and
scipy.ndimage as Debian ships them (k-means: scipy.cluster.vq.kmeans2 with k-means++ and 20
iterations, as scikit-image has none), on the same images; best of REPS calls; prints
"op wall cpu" lines. scikit-image runs as it is (its own threading, mostly one thread)."""
import sys
import time
import numpy as np
from scipy import ndimage as ndi
from scipy.cluster.vq import kmeans2
import skimage
from skimage import io, measure, segmentation, filters, morphology, feature

size = int(sys.argv[1]) if len(sys.argv) > 1 else 512
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
only = sys.argv[3] if len(sys.argv) > 3 else None
DATA = "/usr/lib/python3/dist-packages/skimage/data/"

cam = io.imread(DATA + "camera.png")
rgb = io.imread(DATA + "astronaut.png")[:, :, :3]
t = size // 512
cam = np.tile(cam, (t, t))
rgb = np.tile(rgb, (t, t, 1))
mask = cam > 100
camf = cam.astype(np.float32) / np.float32(255)
elev = filters.sobel(cam).astype(np.float32)
markers = np.zeros(cam.shape, np.int32)
markers[cam < 30] = 1
markers[cam > 200] = 2
disk3 = morphology.disk(3)
feats = (rgb.reshape(-1, 3).astype(np.float32) / np.float32(255))

ops = [
    ("label", lambda: measure.label(mask)),
    ("distance_transform_edt", lambda: ndi.distance_transform_edt(mask)),
    ("watershed", lambda: segmentation.watershed(elev, markers)),
    ("threshold_otsu", lambda: filters.threshold_otsu(cam)),
    ("threshold_multiotsu", lambda: filters.threshold_multiotsu(cam)),
    ("threshold_sauvola", lambda: filters.threshold_sauvola(cam)),
    ("threshold_niblack", lambda: filters.threshold_niblack(cam)),
    ("sobel", lambda: filters.sobel(cam)),
    ("scharr", lambda: filters.scharr(cam)),
    ("prewitt", lambda: filters.prewitt(cam)),
    ("laplace", lambda: filters.laplace(cam)),
    ("canny", lambda: feature.canny(cam)),
    ("binary_erosion_disk3", lambda: morphology.binary_erosion(mask, disk3)),
    ("binary_dilation_disk3", lambda: morphology.binary_dilation(mask, disk3)),
    ("binary_opening_disk3", lambda: morphology.binary_opening(mask, disk3)),
    ("binary_closing_disk3", lambda: morphology.binary_closing(mask, disk3)),
    ("gray_erosion_disk3", lambda: morphology.erosion(camf, disk3)),
    ("gray_dilation_disk3", lambda: morphology.dilation(camf, disk3)),
    ("kmeans_rgb_k4_20it", lambda: kmeans2(feats, 4, iter=20, minit="++", seed=0)),
]

for name, fn in ops:
    if only and only not in name:
        continue
    fn()
    bw = bc = float("inf")
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        w1, c1 = time.perf_counter(), time.process_time()
        bw, bc = min(bw, w1 - w0), min(bc, c1 - c0)
    print("%s %.6f %.6f" % (name, bw, bc), flush=True)
