"""The README's PyTorch snippet, run unchanged: it must reproduce the
stdlib model's probabilities for every cell.

What README.md must hold: a level-2 heading `## From here to PyTorch` and,
before the next `## ` heading, a fenced block opened by a line of exactly
```python and closed by ```. Run beside a trained model.json, the block
defines `text` (a str) and `probs` (a float64 tensor, probs[t] the
probabilities of the character after text[:t+1]) and prints one line per
character of text, in at most 25 lines."""

import contextlib
import io
import os
import re

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, write
from helpers import run_main as run_here

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "README.md")
HEADING = "## From here to PyTorch"


def snippet():
    """The ```python block of the README's PyTorch section; a README
    without one fails the test, as the bridge would go unchecked."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    found = re.search(rf"^{re.escape(HEADING)}[ \t]*\n(.*?)(?=^## |\Z)", text,
                      re.M | re.S)
    if not found:
        pytest.fail(f"README.md has no '{HEADING}' section: this test runs "
                    f"that section's ```python block against model.json")
    block = re.search(r"^```python\n(.*?)^```", found.group(1), re.M | re.S)
    if not block:
        pytest.fail(f"README.md's '{HEADING}' section has no ```python "
                    f"block: this test runs it against model.json")
    return block.group(1)


def test_the_snippet_is_at_most_25_lines():
    # short enough to read as a whole, beside the section's text
    assert len(snippet().strip().splitlines()) <= 25


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_snippet_reproduces_the_models_probabilities(tmp_path, monkeypatch,
                                                      cell):
    # the same weights in PyTorch's own cells give the same probabilities
    torch = pytest.importorskip("torch", reason="torch is not installed "
                                "(pip install torch); the bridge is optional")
    code = snippet()
    write(tmp_path, "data.txt", STORY)
    trained = run_here(tmp_path, *TINY, "--cell", cell, "--sample-length",
                       "0")
    assert trained.returncode == 0, trained.stderr
    monkeypatch.chdir(tmp_path)
    namespace, printed = {}, io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, namespace)                      # as a user would run it
    model, vocab, _, _ = rnn.load_model("model.json")
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
