#!/usr/bin/env python3
"""jax-eager.py: a JAX eager (un-jitted) decode-like loop, the kind of program
the shim meets without having been written for it: XLA dispatches each op on
its own, with event records, stream waits and host functions around it.

    python3 tools/jax-eager.py [--steps=N] [--hidden=H] [--layers=L] [--fast=0|1]

--fast=0 (the default) runs the loop under jax.disable_jit(): every primitive
goes through JAX's Python dispatch, about 250 us an op on the H200, so the
driver calls are a small part of a step. --fast=1 runs the same un-jitted
loop without it, as most JAX code that is not jitted runs: each op is
dispatched one by one through JAX's C++ fast path (a small compiled
executable per op, cached), and the driver's calls weigh more.

Each step runs L layers of a small MLP on a hidden state (matmul, add, tanh,
a residual), op by op, then reads one number back to the host, as a decode
loop reads its token. Prints one line with steps/s and a checksum that must
not change under the shim.
"""
import contextlib
import os
import sys
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

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
    key = jax.random.PRNGKey(0)
    ws = []
    for _ in range(layers):
        key, k1, k2 = jax.random.split(key, 3)
        ws.append((jax.random.normal(k1, (hidden, hidden), jnp.float32) / hidden ** 0.5,
                   jax.random.normal(k2, (hidden,), jnp.float32) * 0.01))
    x = jnp.ones((hidden,), jnp.float32)
    checksum = 0.0
    with (contextlib.nullcontext() if fast else jax.disable_jit()):
        for warm in range(10):
            for w, b in ws:
                x = x + jnp.tanh(x @ w + b) * 0.5
            float(x[0])
        x = jnp.ones((hidden,), jnp.float32)
        t0 = time.perf_counter()
        for _ in range(steps):
            for w, b in ws:
                x = x + jnp.tanh(x @ w + b) * 0.5
            x = x / (1.0 + jnp.abs(x).max())
            checksum += float(x[0])
        dt = time.perf_counter() - t0
    print("jax-eager steps=%d layers=%d hidden=%d fast=%d steps/s=%.1f checksum=%.9e backend=%s"
          % (steps, layers, hidden, fast, steps / dt, checksum, jax.default_backend()))


if __name__ == "__main__":
    main()
