"""Training, saving, loading and sampling, in-process and end to end."""

import json
import math
import os
import random
import shutil

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, run, write

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def trained_model(steps=5):
    vocab = sorted(set(STORY))
    ids = rnn.encode(STORY, vocab)
    model = rnn.RecurrentNeuralNetwork(len(vocab), 6, seed=1)
    h = [0.0] * 6
    for k in range(steps):
        _, grads, h = model.loss_and_gradients(ids[k * 10:k * 10 + 10],
                                               ids[k * 10 + 1:k * 10 + 11], h)
        model.update(grads, 0.1)
    return model, vocab


def test_save_load_round_trip_is_exact(tmp_path):
    # JSON writes floats with repr, which reads back to the identical float
    model, vocab = trained_model()
    progress = {"iteration": 5, "position": 50, "h": [0.25] * 6,
                "smooth_loss": 3.5, "history": {"train": [], "val": []}}
    path = str(tmp_path / "m.json")
    rnn.save_model(path, model, vocab, {"hidden_size": 6}, progress)
    loaded, loaded_vocab, checkpoint = rnn.load_model(path)
    assert loaded_vocab == vocab
    for name in rnn.PARAM_NAMES:
        assert getattr(loaded, name) == getattr(model, name)          # exact
        assert loaded.memory[name] == model.memory[name]
    assert checkpoint["iteration"] == 5 and checkpoint["h"] == [0.25] * 6
    prime = rnn.encode("Once", vocab)
    before = rnn.generate(model, vocab, prime, 50, 1.0, random.Random(7))
    after = rnn.generate(loaded, vocab, prime, 50, 1.0, random.Random(7))
    assert before == after


def test_model_file_has_the_documented_keys(tmp_path):
    model, vocab = trained_model(1)
    path = str(tmp_path / "m.json")
    rnn.save_model(path, model, vocab, {"x": 1},
                   {"iteration": 1, "position": 10, "h": [0.0] * 6,
                    "smooth_loss": 4.0, "history": {"train": [], "val": []}})
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    assert set(data["params"]) == set(rnn.PARAM_NAMES)
    assert set(data["memory"]) == set(rnn.PARAM_NAMES)
    for key in ("vocab", "config", "iteration", "position", "h", "smooth_loss"):
        assert key in data, key
    assert not [n for n in os.listdir(tmp_path) if n != "m.json"]  # no temp left


def test_loss_falls_on_a_repeated_string():
    # a 9-character cycle is easy: 300 updates must take the loss from
    # log2(8) = 3 bits/char to well under 1
    text = "abcabdabe" * 20
    vocab = sorted(set(text))
    ids = rnn.encode(text, vocab)
    model = rnn.RecurrentNeuralNetwork(len(vocab), 16, seed=0)
    start = rnn.evaluate(model, ids)
    h = [0.0] * 16
    for k in range(300):
        p = (k * 9) % (len(ids) - 10)
        _, grads, _ = model.loss_and_gradients(ids[p:p + 9], ids[p + 1:p + 10], h)
        model.update(grads, 0.1)
    end = rnn.evaluate(model, ids)
    assert start == pytest.approx(math.log2(len(vocab)), abs=0.05)
    assert end < 1.0, end


class RecordingRNN(rnn.RecurrentNeuralNetwork):
    """Records every chunk and h_prev that training hands to the model."""

    def loss_and_gradients(self, inputs, targets, h_prev):
        result = super().loss_and_gradients(inputs, targets, h_prev)
        self.calls.append((inputs, targets, list(h_prev), result[2]))
        return result


def test_training_walks_the_whole_text_and_carries_h():
    # 23 ids, chunks of 10: 0-10, 10-20, 20-22 (short), then wrap to 0
    ids = [i % 5 for i in range(23)]
    model = RecordingRNN(5, 4, seed=0)
    model.calls = []
    args = rnn.parse_args(["--max-iterations", "5", "--sequence-length", "10",
                           "--sample-every", "1000", "--log-every", "1000"])
    progress = {"iteration": 0, "position": 0, "h": [0.0] * 4,
                "smooth_loss": 2.0, "history": {"train": [], "val": []}}
    rnn.train(model, list("abcde"), ids, [], progress, args,
              save=lambda: None, sample=lambda: "")
    assert [len(c[0]) for c in model.calls] == [10, 10, 2, 10, 10]
    assert [c[0] for c in model.calls][:3] == [ids[0:10], ids[10:20], ids[20:22]]
    assert all(c[1] == ids[s + 1:s + 1 + len(c[0])] for c, s in
               zip(model.calls, [0, 10, 20, 0, 10]))
    assert model.calls[1][2] == model.calls[0][3]        # h carried over
    assert model.calls[2][2] == model.calls[1][3]
    assert model.calls[3][2] == [0.0] * 4                # reset at wrap-around
    assert progress["iteration"] == 5 and progress["position"] == 20


def test_same_seed_trains_the_same_weights(tmp_path):
    # no hidden randomness: two runs with one seed write identical files
    outputs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        write(folder, "data.txt", STORY)
        result = run(folder, *TINY)
        assert result.returncode == 0, result.stderr
        outputs.append((folder / "model.json").read_bytes())
    assert outputs[0] == outputs[1]


def test_end_to_end_train_then_generate(tmp_path):
    write(tmp_path, "data.txt", STORY)
    result = run(tmp_path, *TINY)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    vocab = sorted(set(STORY))
    assert f"expected loss at start: log2({len(vocab)}) = " \
           f"{math.log2(len(vocab)):.2f} bits/char" in out
    assert "iter 20/20 | train " in out and " chars/s | " in out
    assert out.count("--- sample at iteration") == 2      # at 10 and 20
    assert "--- sample at temperature 0.5 " in out
    with open(tmp_path / "vocab.json", encoding="utf-8") as f:
        assert json.load(f) == vocab
    with open(tmp_path / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    assert config["hidden_size"] == 8 and config["vocab_size"] == len(vocab)
    with open(tmp_path / "model.json", encoding="utf-8") as f:
        assert json.load(f)["iteration"] == 20

    generated = run(tmp_path, "--generate", "Once upon", "--sample-length", "40",
                    "--seed", "3")
    assert generated.returncode == 0, generated.stderr
    assert generated.stderr == ""
    text = generated.stdout
    assert text.startswith("Once upon") and len(text) == len("Once upon") + 40 + 1
    assert set(text[:-1]) <= set(vocab)
    again = run(tmp_path, "--generate", "Once upon", "--sample-length", "40",
                "--seed", "3")
    assert again.stdout == text                           # --seed reproduces


def test_default_run_writes_the_committed_vocab_and_config(tmp_path, monkeypatch,
                                                           capsys):
    # the real default run rewrites vocab.json and config.json byte for byte;
    # here training itself is skipped to keep the suite fast
    shutil.copy(os.path.join(REPO, "data.txt"), tmp_path)
    monkeypatch.chdir(tmp_path)
    def no_training(model, vocab, train_ids, val_ids, progress, args, save,
                    sample):
        progress["history"]["train"].append([1, 5.0])
        save()                          # the first checkpoint writes them
    monkeypatch.setattr(rnn, "train", no_training)
    monkeypatch.setattr(rnn, "counting_lines", lambda *args: [])  # n-grams
    assert rnn.main(["--sample-length", "0"]) == 0
    for name in ("vocab.json", "config.json"):
        with open(os.path.join(REPO, name), "rb") as f:
            assert (tmp_path / name).read_bytes() == f.read(), name


def test_importing_the_file_runs_nothing(tmp_path):
    # pytest and coursework import the module: no output, no files written
    import subprocess
    import sys
    code = "import rnn_from_scratch"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                            capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": REPO})
    assert result.returncode == 0 and result.stdout == result.stderr == ""
    assert os.listdir(tmp_path) == []
