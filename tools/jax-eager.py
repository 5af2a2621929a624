#!/usr/bin/env python3
"""jax-eager.py: a JAX eager (un-jitted) decode-like loop, the kind of program
the shim meets without having been written for it: XLA dispatches each op on
its own, with event records, stream waits and host functions around it.

    python3 tools/jax-eager.py [--steps=N] [--hidden=H] [--layers=L] [--fast=0|1] [--autotune=0|1]

--fast=0 (the default) runs the loop under jax.disable_jit(): every primitive
goes through JAX's Python dispatch, about 250 us an op on the H200, so the
driver calls are a small part of a step. --fast=1 runs the same un-jitted
loop without it, as most JAX code that is not jitted runs: each op is
dispatched one by one through JAX's C++ fast path (a small compiled
executable per op, cached), and the driver's calls weigh more.

--ab=K (under the shim only) times the shim against no shim in this one
process: the timed steps run in blocks of K, the shim paused
(graphshim_pause) in one block of each pair and graphing in the other,
the order alternating from pair to pair; it prints the median of the
pairs' ratios and their quartiles. Separate runs on a lent host differ by a
third from one to the next; adjacent blocks share the host's speed. It also
prints the quantiles of single steps in either state (the block ratios'
median hides a few slow blocks: the first with the shim on is where it
learns), and of the wait for the value each step reads back (what the GPU
still had to do then), and each block's milliseconds; with JAX_AB_TIMES=FILE it writes each
block's state and its start and end on CLOCK_MONOTONIC there, for
tools/wallprof.py --blocks.

Each step runs L layers of a small MLP on a hidden state (matmul, add, tanh,
a residual), op by op, then reads one number back to the host, as a decode
loop reads its token. Prints one line with steps/s and a checksum that must
not change under the shim.

--autotune=1 lets XLA pick each matmul's algorithm by timing candidates, as
it does by default. Without it the loop runs with autotuning off and
deterministic ops (XLA_FLAGS): the timing picks the algorithm, and so the
checksum's last digits, process by process. On the H200 one run in about
twenty gave -2.482705762e+01 instead of -2.482705355e+01, once under the
shim's passthrough mode, which changes no data; with autotuning off, 20 runs
with and without the shim all gave the untuned algorithm's value (2026-12-04).
"""
import contextlib
import os
import sys
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
if "--autotune=1" not in sys.argv[1:]:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_gpu_autotune_level=0 --xla_gpu_deterministic_ops=true").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402


def arg(name, default):
    for a in sys.argv[1:]:
        if a.startswith("--" + name + "="):
            return int(a.split("=", 1)[1])
    return default


def main():
    steps, hidden, layers = arg("steps", 200), arg("hidden", 256), arg("layers", 4)
    fast = arg("fast", 0)
    if fast not in (0, 1):
        sys.exit("jax-eager.py: --fast takes 0 or 1")
    if arg("autotune", 0) not in (0, 1):
        sys.exit("jax-eager.py: --autotune takes 0 or 1")
    ab = arg("ab", 0)
    pause = None
    if ab < 0 or (ab > 0 and steps < 2 * ab):
        sys.exit("jax-eager.py: --ab takes a block of at least 1 step, and --steps two blocks")
    if ab > 0:
        import ctypes
        try:
            pause = ctypes.CDLL(None).graphshim_pause
        except AttributeError:
            sys.exit("jax-eager.py: --ab needs the shim (LD_PRELOAD=libgraphshim.so)")
        pause.argtypes = [ctypes.c_int]
    key = jax.random.PRNGKey(0)
    ws = []
    for _ in range(layers):
        key, k1, k2 = jax.random.split(key, 3)
        ws.append((jax.random.normal(k1, (hidden, hidden), jnp.float32) / hidden ** 0.5,
                   jax.random.normal(k2, (hidden,), jnp.float32) * 0.01))
    x = jnp.ones((hidden,), jnp.float32)
    checksum = 0.0
    with (contextlib.nullcontext() if fast else jax.disable_jit()):
        # The whole step, as timed below. Without the normalisation here the
        # first timed step took about 300 ms on the H200 (its ops run for
        # the first time, the main thread waiting in XLA), always in the
        # first block, which --ab gives the shim.
        for warm in range(10):
            for w, b in ws:
                x = x + jnp.tanh(x @ w + b) * 0.5
            x = x / (1.0 + jnp.abs(x).max())
            float(x[0])
        x = jnp.ones((hidden,), jnp.float32)
        blocks = []  # [shim on, seconds, start ns, end ns] of each block of --ab steps
        step_s = ([], [])  # each timed step's seconds, paused and graphing
        read_s = ([], [])  # of which waiting for the value read back
        t0 = time.perf_counter()
        for i in range(steps):
            ts = time.perf_counter()
            if ab and i % ab == 0 and i + ab <= steps:
                # Pair p runs on-off when p is even, off-on when odd.
                k = i // ab
                on = (k % 2 == 0) == ((k // 2) % 2 == 0)
                pause(0 if on else 1)
                blocks.append([on, 0.0, time.monotonic_ns()])
            for w, b in ws:
                x = x + jnp.tanh(x @ w + b) * 0.5
            x = x / (1.0 + jnp.abs(x).max())
            v = x[0]
            tr = time.perf_counter()
            checksum += float(v)
            if ab and blocks:
                te = time.perf_counter()
                step_s[blocks[-1][0]].append(te - ts)
                read_s[blocks[-1][0]].append(te - tr)
            if ab and i + 1 == (len(blocks)) * ab:
                blocks[-1].append(time.monotonic_ns())
                blocks[-1][1] = (blocks[-1][3] - blocks[-1][2]) / 1e9
        dt = time.perf_counter() - t0
        if ab:
            pause(0)
    print("jax-eager steps=%d layers=%d hidden=%d fast=%d autotune=%d steps/s=%.1f checksum=%.9e backend=%s"
          % (steps, layers, hidden, fast, arg("autotune", 0), steps / dt, checksum, jax.default_backend()))
    if ab:
        pairs = [blocks[j:j + 2] for j in range(0, len(blocks) - 1, 2)]
        ratios = sorted((p[1][1] if p[0][0] else p[0][1]) / (p[0][1] if p[0][0] else p[1][1])
                        for p in pairs)
        on_s = sum(b[1] for b in blocks if b[0])
        off_s = sum(b[1] for b in blocks if not b[0])
        n_on = sum(1 for b in blocks if b[0]) * ab
        n_off = sum(1 for b in blocks if not b[0]) * ab
        q = lambda f: ratios[min(len(ratios) - 1, int(f * len(ratios)))]
        print("jax-eager ab block=%d pairs=%d shim=%.1f paused=%.1f steps/s ratio=%.3f [%.3f-%.3f]"
              % (ab, len(ratios), n_on / on_s, n_off / off_s, q(0.5), q(0.25), q(0.75)))
        # The block ratios' median hides a few slow blocks; the steps'
        # quantiles show whether the shim is slower in every step or in a few.
        # The read's wait apart: what the GPU (and the callbacks) still had
        # to do when the host asked for the value, against the rest of the
        # step, the host dispatching.
        for on in (False, True):
            for what, vals in (("steps", step_s[on]), ("read", read_s[on])):
                v = sorted(vals)
                if v:
                    p = lambda f: 1e6 * v[min(len(v) - 1, int(f * len(v)))]
                    print("jax-eager ab %s %s=%d us: p10=%.0f p50=%.0f p90=%.0f p99=%.0f max=%.0f mean=%.0f"
                          % ("shim" if on else "paused", what, len(v), p(0.1), p(0.5), p(0.9), p(0.99),
                             1e6 * v[-1], 1e6 * sum(v) / len(v)))
        if os.environ.get("JAX_AB_TIMES"):
            # Each block's start and end on CLOCK_MONOTONIC, for a profiler's
            # samples to be told apart by the shim's state.
            with open(os.environ["JAX_AB_TIMES"], "w") as f:
                for b in blocks:
                    f.write("%d %d %d\n" % (b[0], b[2], b[3]))
        print("jax-eager ab blocks " + " ".join("%s%.1f" % ("+" if b[0] else "-", 1e3 * b[1]) for b in blocks))


if __name__ == "__main__":
    main()
