"""PyTorch reference for bench/predict.lua: the U-Net of torch_unet.py (3 -> 1 class, base 16,
depth 5), eval mode, no_grad, one forward on the whole SIZE x SIZE image (batch 1).
usage: python3 torch_predict.py THREADS [SIZE] [RUNS]; prints JSON, best of RUNS wall ms.
Run it as torch_unet.py says: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1"""
import json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
from torch_unet import UNet

def main():
    th = int(sys.argv[1]); size = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    torch.set_num_threads(th); torch.manual_seed(0)
    m = UNet().eval()
    x = torch.rand(1, 3, size, size)
    best = float("inf")
    with torch.no_grad():
        m(torch.rand(1, 3, 256, 256))
        for _ in range(runs):
            t = time.perf_counter(); y = m(x); dt = time.perf_counter() - t
            assert y.shape[-1] == size
            best = min(best, dt); del y
    print(json.dumps({"torch_whole_ms": round(best * 1e3, 1), "size": size, "threads": th,
                      "torch": torch.__version__}))

if __name__ == "__main__":
    main()
