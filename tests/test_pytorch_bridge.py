"""The README's PyTorch snippet, run unchanged: it must reproduce the
stdlib model's probabilities for every cell."""

import contextlib
import io
import os
import re

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, run, write

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "README.md")


def snippet():
    """The one ```python block of the README's PyTorch section."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## From here to PyTorch"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_snippet_is_at_most_25_lines():
    assert len(snippet().strip().splitlines()) <= 25


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_snippet_reproduces_the_models_probabilities(tmp_path, monkeypatch,
                                                      cell):
    torch = pytest.importorskip("torch", reason="torch is not installed "
                                "(pip install torch); the bridge is optional")
    write(tmp_path, "data.txt", STORY)
    assert run(tmp_path, *TINY, "--cell", cell).returncode == 0
    monkeypatch.chdir(tmp_path)
    namespace, printed = {}, io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(snippet(), namespace)                 # as a user would run it
    model, vocab, _ = rnn.load_model("model.json")
    text = namespace["text"]
    assert namespace["probs"].dtype == torch.float64
    assert len(printed.getvalue().splitlines()) == len(text)
    state = model.zero_state()
    for t, ch in enumerate(text):
        state = model.step(vocab.index(ch), state)
        want, _ = rnn.softmax(model.scores(state))
        got = namespace["probs"][t].tolist()
        # float64 both ways; only the order of the sums differs
        assert got == pytest.approx(want, abs=1e-9, rel=0), (cell, t)
