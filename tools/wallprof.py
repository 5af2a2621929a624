#!/usr/bin/env python3
"""wallprof.py: what tools/libwallprof.so sampled, as a table: where the
program's main thread spent its wall time, by object and by symbol, and for
the samples inside libc (a wait, mostly: a futex, a lock) the calls they
came from.

    tools/wallprof.py SAMPLES [--steps=N] [--blocks=FILE --block-steps=K] [--top=N]

--steps=N: the times per step of N steps (else milliseconds in all).
--blocks=FILE: the lines "on start_ns end_ns" that tools/jax-eager.py --ab
writes to $JAX_AB_TIMES (on: 1 with the shim graphing, 0 paused): the
samples are split by the shim's state in one process, the first block left
out (where the shim learns), and shown side by side with the difference,
per step of K steps a block.
"""
import bisect
import collections
import sys


def arg(name, default=None):
    for a in sys.argv[2:]:
        if a.startswith("--" + name + "="):
            return a.split("=", 1)[1]
    return default


def load(path):
    """Samples as [ns, tid, object, symbol, trace], trace the frames or []."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("B "):
                if out:
                    out[-1][4] = [fr.split(":", 2) for fr in line[2:].split(" ")]
                continue
            p = line.split(" ", 4)
            if len(p) == 5:
                out.append([int(p[0]), p[1], p[2], p[4], []])
    return out


def caller_chain(trace):
    """The first frames outside libc, as object:symbol (or the offset)."""
    fr = [f for f in trace if len(f) == 3 and not f[0].startswith("libc.so")][:4]
    return " < ".join("%s:%s" % (f[0][:24], f[2][:32] if f[2] != "?" else f[1]) for f in fr)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip())
    rows = load(sys.argv[1])
    if not rows:
        sys.exit("wallprof.py: no samples in %s" % sys.argv[1])
    top = int(arg("top", "12"))
    main_tid = collections.Counter(r[1] for r in rows).most_common(1)[0][0]
    rows = [r for r in rows if r[1] == main_tid]
    period_us = (rows[-1][0] - rows[0][0]) / 1e3 / max(1, len(rows) - 1)
    states = {None: rows}
    if arg("blocks"):
        blocks = []
        with open(arg("blocks")) as f:
            for line in f:
                on, t0, t1 = (int(x) for x in line.split())
                blocks.append((t0, t1, on))
        starts = [b[0] for b in blocks]
        states = {0: [], 1: []}
        for r in rows:
            i = bisect.bisect_right(starts, r[0]) - 1
            if i >= 1 and r[0] < blocks[i][1]:
                states[blocks[i][2]].append(r)
        k = int(arg("block-steps", "1"))
        steps = {on: k * sum(1 for b in blocks[1:] if b[2] == on) for on in (0, 1)}
        per = {on: period_us / max(1, steps[on]) for on in states}
        unit = "us a step"
    elif int(arg("steps", "0")) > 0:
        per = {None: period_us / int(arg("steps"))}
        unit = "us a step"
    else:
        per = {None: period_us / 1e3}
        unit = "ms in all"
    print("main thread %s: %d samples, one every %.1f us; %s" %
          (main_tid, len(rows), period_us, unit + (" (paused, shim, difference)" if len(states) > 1 else "")))

    def table(title, key, rowsel=lambda r: True, scale=1):
        counts = {on: collections.Counter(key(r) for r in rs if rowsel(r)) for on, rs in states.items()}
        keys = set()
        for c in counts.values():
            keys |= set(k for k, _ in c.most_common(top))
        val = lambda on, k: scale * counts[on][k] * per[on]
        order = sorted(keys, key=lambda k: -max(abs(val(on, k)) for on in states)) if len(states) == 1 \
            else sorted(keys, key=lambda k: -abs(val(1, k) - val(0, k)))
        print(title)
        for k in order:
            if len(states) == 1:
                print("  %9.1f  %s" % (val(None, k), k))
            else:
                print("  %9.1f %9.1f %+9.1f  %s" % (val(0, k), val(1, k), val(1, k) - val(0, k), k))

    tot = {on: len(rs) * per[on] for on, rs in states.items()}
    print("total: " + "  ".join("%.1f" % tot[on] for on in states))
    table("by object:", lambda r: r[2][:40])
    table("by symbol:", lambda r: "%s %s" % (r[2][:28], r[3][:40]))
    # One sample in four has a backtrace: four times its count.
    table("inside libc, by the calls outside it (from the sampled backtraces):",
          lambda r: caller_chain(r[4]), lambda r: r[2].startswith("libc.so") and r[4], 4)


if __name__ == "__main__":
    main()
