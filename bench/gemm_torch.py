"""PyTorch side of bench/bench_gemm.sh: torch.mm / addmm_ GFLOP/s on the shapes that
`lua5.4 bench/gemm.lua shapes` prints (one per line: name ta tb m n k lda ldb ldc beta), with
the stored operands as strided views (leading dimensions as lunet's calls use them).
usage: lua5.4 bench/gemm.lua shapes | python3 bench/gemm_torch.py THREADS
prints "name torch gflops" lines."""
import sys, time, torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
torch.manual_seed(0)

# one thread: process CPU time (as bench/gemm.lua), else wall-clock time
clock = time.process_time if threads == 1 else time.perf_counter

def bench(fn):
    fn()
    best, t_end = float("inf"), clock() + 0.25
    batches = 0
    while batches < 5 or clock() < t_end:
        reps, t0 = 0, clock()
        while True:
            fn(); reps += 1
            if clock() - t0 > 0.01: break
        best = min(best, (clock() - t0) / reps)
        batches += 1
    return best

for line in sys.stdin:
    f = line.split()
    if len(f) != 10: continue
    name = f[0]
    ta, tb, m, n, k, lda, ldb, ldc, beta = map(int, f[1:])
    arows, acols = (k, m) if ta else (m, k)
    brows, bcols = (n, k) if tb else (k, n)
    a = torch.randn(arows, lda)[:, :acols]
    b = torch.randn(brows, ldb)[:, :bcols]
    if ta: a = a.t()
    if tb: b = b.t()
    c = torch.zeros(m, ldc)[:, :n]
    if beta: fn = lambda: c.addmm_(a, b)
    else: fn = lambda: torch.mm(a, b, out=c)
    t = bench(fn)
    print("%s torch %.2f" % (name, 2.0 * m * n * k / t / 1e9), flush=True)
