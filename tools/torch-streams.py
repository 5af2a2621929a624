#!/usr/bin/env python3
"""torch-streams.py: a PyTorch decode-like loop with a side stream, the
fork/join pattern of issue 10 as a framework program writes it.

    python3 tools/torch-streams.py [--steps=N] [--hidden=H] [--layers=L] [--mode=eager|graph]

In every layer the main stream computes one projection while a side stream
(torch.cuda.Stream), forked with wait_stream, computes a gate; the main
stream joins it with wait_stream and frees the gate after use, which
record_stream makes safe (the caching allocator records an event on the
main stream and queries it before reusing the block). One number is read
back per step, as a decode loop reads its token. --mode=graph captures the
same step with torch.cuda.CUDAGraph (the ceiling for these kernels).

Prints one line with steps/s and a checksum that must not change under the
shim.
"""
import sys
import time

import torch


def arg(name, default):
    for a in sys.argv[1:]:
        if a.startswith("--" + name + "="):
            v = a.split("=", 1)[1]
            return v if isinstance(default, str) else int(v)
    return default


def main():
    steps, hidden, layers = arg("steps", 300), arg("hidden", 512), arg("layers", 8)
    mode = arg("mode", "eager")
    if mode not in ("eager", "graph"):
        sys.exit("torch-streams: --mode is eager or graph, not %r" % mode)
    torch.manual_seed(0)
    dev = "cuda"
    ws = [(torch.randn(hidden, hidden, device=dev) / hidden ** 0.5,
           torch.randn(hidden, hidden, device=dev) / hidden ** 0.5) for _ in range(layers)]
    side = torch.cuda.Stream()
    x = torch.ones(1, hidden, device=dev)

    def step(x):
        main_s = torch.cuda.current_stream()      # the capture stream in graph mode
        for w1, w2 in ws:
            side.wait_stream(main_s)              # fork: an event recorded on main
            with torch.cuda.stream(side):
                g = torch.sigmoid(x @ w2)         # on the side stream
            u = torch.tanh(x @ w1)                # on main, concurrently
            main_s.wait_stream(side)              # join
            g.record_stream(main_s)               # g, allocated on side, used on main
            x = x + u * g * 0.5
            del g
        return x / (1.0 + x.abs().max())

    for _ in range(10):                           # warm-up: allocator, cuBLAS
        x = step(x)
    torch.cuda.synchronize()
    x = torch.ones(1, hidden, device=dev)
    run = step
    if mode == "graph":
        static_x = torch.ones(1, hidden, device=dev)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_y = step(static_x)

        def run(x):
            static_x.copy_(x)
            graph.replay()
            return static_y.clone()
    checksum = 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        x = run(x)
        checksum += float(x[0, 0])               # one host read per step
    dt = time.perf_counter() - t0
    print("torch-streams mode=%s steps=%d layers=%d hidden=%d steps/s=%.1f checksum=%.9e"
          % (mode, steps, layers, hidden, steps / dt, checksum))


if __name__ == "__main__":
    main()
