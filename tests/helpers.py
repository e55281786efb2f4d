"""Shared test helpers: run the script as a user would."""

import os
import random
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "rnn_from_scratch.py")
TINY = ["--hidden-size", "8", "--sequence-length", "10", "--max-iterations", "20",
        "--sample-every", "10", "--log-every", "5", "--sample-length", "30"]
STORY = ("Once upon a time a cat sat on a mat. The cat saw a rat. "
         "Once upon a time a dog ran to the sea. The dog saw a cat.\n") * 3


def chunk(length, vocab_size, seed):
    """(inputs, targets): length random character indices and the next."""
    rng = random.Random(seed)
    ids = [rng.randrange(vocab_size) for _ in range(length + 1)]
    return ids[:-1], ids[1:]


def run(folder, *args, timeout=60):
    """Run rnn_from_scratch.py in folder; returns the CompletedProcess."""
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=folder,
                          capture_output=True, text=True, timeout=timeout,
                          encoding="utf-8")


def model_bytes(path):
    """A model file as bytes, less its "seconds" of training: the clock is
    the one thing two runs of the same seed do not share."""
    import json
    with open(path, encoding="utf-8") as f:
        checkpoint = json.load(f)
    assert checkpoint.pop("seconds") >= 0
    return json.dumps(checkpoint, ensure_ascii=False).encode("utf-8")


def write(folder, name, text):
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def assert_error(result, *needles):
    """A user error: exit status 2, one 'error:' line on stderr naming
    each needle, and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def run_main(folder, *args):
    """rnn_from_scratch.main(args), in this process, in folder: a
    CompletedProcess like run's (returncode, stdout, stderr), without the
    0.3 s of starting Python. Use run where a real process matters."""
    import contextlib
    import io
    import rnn_from_scratch
    out, err, cwd = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = rnn_from_scratch.main(list(args))
    finally:
        os.chdir(cwd)
    return subprocess.CompletedProcess(args, status, out.getvalue(),
                                       err.getvalue())
