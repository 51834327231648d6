#!/usr/bin/python3
"""bench/pipeline_jpeg.py DIR: rewrites DIR/img/*.jpg that hold PNG data as real JPEGs
(quality 90, 4:2:0), for a lunet whose image.save writes PNG only."""
import glob
import sys

from PIL import Image

for path in sorted(glob.glob(sys.argv[1] + "/img/*.jpg")):
    with open(path, "rb") as f:
        if f.read(2) == b"\xff\xd8":
            continue
    img = Image.open(path).convert("RGB")
    img.save(path, format="JPEG", quality=90)
