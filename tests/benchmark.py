"""Speed of one training step, in microseconds per training character.

    python tests/benchmark.py                 all sizes
    python tests/benchmark.py --quick         fewer repeats
    python tests/benchmark.py --sizes 100x65x25,256x65x25
    python tests/benchmark.py --cell lstm     the vanilla RNN and the LSTM
    python tests/benchmark.py --against OLD.py   beside another version
    pypy3 tests/benchmark.py                  the same under PyPy

A step is forward + backward + the Adagrad update on one chunk. Each size
times the vanilla RNN (rnn_from_scratch.RNN) beside the naive textbook
version in naive_rnn.py (one-hot vectors, index loops: what the original
list-based script costs), and the gated cells (GRU, LSTM), alternating
them all so that a busy machine slows each alike. A cell with G gate
blocks does about 3·G·hidden² + 3·hidden·vocab multiply-adds per
character; the second table divides each cell's time by that count, and
compares it with the vanilla RNN's. --against OLD.py times each cell of
another version of the file (say, `git show c572dae:rnn_from_scratch.py >
/tmp/old.py`) beside this one's and prints this one's time over it, the
median of the ratios within each repeat. Under PyPy, the three cells share
one chunk loop, whose JIT traces then serve them all: timed in one process,
the vanilla RNN runs up to 2x slower than alone, as when a notebook trains
several cells; one cell per process (--cell and a small --sizes, or your
own loop) gives its own speed. Peak memory per step comes from
tracemalloc, in a separate untimed step. Not a test: pytest does not
collect this file.
"""

import argparse
import importlib.util
import os
import platform
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

import naive_rnn  # noqa: E402
from rnn_from_scratch import CELLS, PARAM_NAMES, settings, zeros_like  # noqa: E402

SIZES = [(10, 15, 25), (50, 65, 25), (100, 65, 25), (256, 65, 25)]


def setup(hidden, vocab, length, cell="rnn", cells=CELLS):
    """A model, a random chunk and a non-zero state, all from one seed;
    cells: this file's CELLS, or another version's (--against)."""
    rng = random.Random(0)
    model = cells[cell](vocab, hidden, seed=0)
    ids = [rng.randrange(vocab) for _ in range(length + 1)]
    h_prev = [rng.uniform(-0.5, 0.5) for _ in range(hidden)]
    zero = model.zero_state()                 # the LSTM's [h, s], or (h, s)
    state = type(zero)([h_prev, list(h_prev)]) if cell == "lstm" else h_prev
    return model, ids[:-1], ids[1:], state


def other_cells(path):
    """The CELLS of another version of rnn_from_scratch.py, for --against."""
    spec = importlib.util.spec_from_file_location("other_version", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CELLS


def multiply_adds(cell, hidden, vocab):
    """Per character: W·h, Wᵀ·d and dW (G·hidden² each), V·h, Vᵀ·dy and dV
    (hidden·vocab each)."""
    blocks = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    return 3 * blocks * hidden * hidden + 3 * hidden * vocab


def ours(model, inputs, targets, h_prev):
    """One training step of the class; an older version's update (--against)
    takes the learning rate itself, not the settings."""
    older = model.update.__code__.co_varnames[2] == "learning_rate"
    how = 0.1 if older else settings(learning_rate=0.1)

    def step():
        _, grads, _ = model.loss_and_gradients(inputs, targets, h_prev)
        model.update(grads, how)
    return step


def naive(model, inputs, targets, h_prev):
    """One training step of the textbook version, on its own copy of the weights."""
    params = {n: [list(r) for r in getattr(model, n)] if n in "UWV"
              else list(getattr(model, n)) for n in PARAM_NAMES}
    memory = {n: zeros_like(params[n]) for n in PARAM_NAMES}

    def step():
        _, grads, _ = naive_rnn.loss_and_gradients(
            *[params[n] for n in PARAM_NAMES], inputs, targets, h_prev)
        naive_rnn.adagrad_update(params, memory, grads, 0.1)
    return step


def peak_kib(step):
    """Peak memory allocated during one call of step, in KiB."""
    import tracemalloc                        # CPython only: PyPy lacks it
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1024


def measure(size, repeats, warmup, cells, against=None):
    hidden, vocab, length = size
    steps = {"ours": ours(*setup(*size)), "naive": naive(*setup(*size))}
    steps.update({cell: ours(*setup(*size, cell)) for cell in cells})
    if against:                               # the same steps, other file
        steps.update({"then " + cell: ours(*setup(*size, cell, against))
                      for cell in ["rnn"] + cells})
    for _ in range(warmup):                   # let PyPy's JIT compile first
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    for _ in range(repeats):                  # alternate: noise hits both
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - start) / length * 1e6)
    result = {name: statistics.median(t) for name, t in times.items()}
    for cell in cells:                        # paired: the same repeat's rnn
        result[cell + " ratio"] = statistics.median(
            c / r for c, r in zip(times[cell], times["ours"]))
    for cell in ["rnn"] + cells if against else []:   # now over then
        now = times["ours" if cell == "rnn" else cell]
        result[cell + " vs then"] = statistics.median(
            a / b for a, b in zip(now, times["then " + cell]))
    if platform.python_implementation() == "CPython":
        result.update({name + " KiB": peak_kib(step) for name, step in steps.items()})
    return result


def cell_table(rows, cells):
    """Per cell: µs per character, multiply-adds, ns per multiply-add, and
    that cost over the vanilla RNN's: the median, over the repeats, of the
    cell's time over the rnn's in the same repeat (robust to a machine
    whose speed drifts), divided by their ratio of multiply-adds."""
    header = (f"{'hidden':>6} {'vocab':>5} | {'cell':>4} {'µs/char':>9} "
              f"{'mult-adds':>9} {'ns/m-a':>6} {'vs rnn':>6}")
    print(header)
    print("-" * len(header))
    for (hidden, vocab, _), r in rows:
        base = multiply_adds("rnn", hidden, vocab)
        for cell in ["rnn"] + cells:
            us = r["ours" if cell == "rnn" else cell]
            count = multiply_adds(cell, hidden, vocab)
            ratio = 1.0 if cell == "rnn" else r[cell + " ratio"]
            print(f"{hidden:>6} {vocab:>5} | {cell:>4} {us:>9.1f} "
                  f"{count:>9,} {us / count * 1000:>6.2f} "
                  f"{ratio * base / count:>5.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats: a rough table in seconds")
    parser.add_argument("--sizes", default=",".join("x".join(map(str, s)) for s in SIZES),
                        help="hidden x vocab x chunk, comma-separated "
                        "(default: %(default)s)")
    parser.add_argument("--cell", choices=["gru", "lstm"], action="append",
                        help="gated cell to time beside the vanilla RNN; "
                        "give it twice for both (default: both)")
    parser.add_argument("--against", metavar="OLD.py",
                        help="another version of rnn_from_scratch.py to time "
                        "each cell beside")
    args = parser.parse_args()
    against = other_cells(args.against) if args.against else None
    cells = args.cell or ["gru", "lstm"]
    sizes = [tuple(int(n) for n in s.split("x")) for s in args.sizes.split(",")]
    pypy = platform.python_implementation() == "PyPy"
    print(f"{platform.python_implementation()} {platform.python_version()} "
          f"on {platform.machine()}: median µs per training character")
    header = f"{'hidden':>6} {'vocab':>5} {'chunk':>5} | {'ours':>9} {'naive':>9} {'speedup':>7}"
    if not pypy:
        header += f" | {'ours KiB':>8} {'naive KiB':>9}"
    print(header)
    print("-" * len(header))
    rows = []
    for size in sizes:
        work = size[0] * (size[0] + size[1]) * size[2]
        repeats = 3 if args.quick else max(9, min(41, int(3e6 / work)))
        warmup = 1 if not pypy else max(20, int(3e6 / work))  # JIT compiles
        if args.quick:
            warmup = min(warmup, 5)
        r = measure(size, repeats, warmup, cells, against)
        rows.append((size, r))
        line = (f"{size[0]:>6} {size[1]:>5} {size[2]:>5} | {r['ours']:>9.1f} "
                f"{r['naive']:>9.1f} {r['naive'] / r['ours']:>6.1f}x")
        if not pypy:
            line += f" | {r['ours KiB']:>8.0f} {r['naive KiB']:>9.0f}"
        if against:
            line += " | this file's time over --against's: " + ", ".join(
                f"{cell} {r[cell + ' vs then']:.3f}"
                for cell in ["rnn"] + cells)
        print(line, flush=True)
    print("\nthe cells: median µs per training character, and per "
          "multiply-add")
    cell_table(rows, cells)


if __name__ == "__main__":
    main()
