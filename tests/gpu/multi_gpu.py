# multi_gpu.py: multi-GPU programs for tests/gpu/gpu-multi.sh.
#   python3 multi_gpu.py two-devices   one process, a decode-like step on
#                                      each of two GPUs, alternating
#   python3 multi_gpu.py nccl          two processes, one per GPU, exchanging
#                                      data with all_reduce inside every step
# Each prints one line per process: a checksum of what it computed. Exits 77
# with fewer than two GPUs.
import os
import sys

import torch

STEPS = 64
D = 512


def step(x, w):
    for _ in range(8):
        x = torch.tanh(x @ w) * 0.5 + x * 0.5
    return x


def two_devices():
    torch.manual_seed(0)
    devs = ["cuda:0", "cuda:1"]
    ws = [torch.randn(D, D, device=d) / D ** 0.5 for d in devs]
    xs = [torch.randn(1, D, device=d) for d in devs]
    total = 0.0
    for i in range(STEPS):
        for k in range(2):
            xs[k] = step(xs[k], ws[k])
            total += float(xs[k].sum())  # one read-back (a sync) per step
    print(f"two-devices checksum={total:.6e}", flush=True)


def nccl_worker(rank):
    import torch.distributed as dist
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    dist.init_process_group("nccl", rank=rank, world_size=2)
    torch.cuda.set_device(rank)
    torch.manual_seed(rank)
    w = torch.randn(D, D, device="cuda") / D ** 0.5
    x = torch.randn(1, D, device="cuda")
    total = 0.0
    for i in range(STEPS):
        x = step(x, w)
        dist.all_reduce(x)  # NCCL's kernel inside the step: never graphed
        x = x * 0.5
        total += float(x.sum())
    # One write per line: both processes share the pipe, and print() may
    # write the text and its newline separately, interleaving the lines.
    sys.stdout.flush()
    os.write(1, f"nccl rank={rank} checksum={total:.6e}\n".encode())
    dist.destroy_process_group()


if __name__ == "__main__":
    if torch.cuda.device_count() < 2:
        print("fewer than two GPUs: skipped")
        sys.exit(77)
    if sys.argv[1] == "two-devices":
        two_devices()
    else:
        import torch.multiprocessing as mp
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29531")
        mp.spawn(nccl_worker, nprocs=2)
