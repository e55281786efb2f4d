"""Training, saving, loading and sampling, in-process and end to end."""

import json
import math
import os
import random
import re
import shutil

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, model_bytes, run_main, write

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def trained_model(steps=5):
    vocab = sorted(set(STORY))
    ids = rnn.encode(STORY, vocab)
    model = rnn.RNN(len(vocab), 6, seed=1)
    h = [0.0] * 6
    for k in range(steps):
        _, grads, h = model.loss_and_gradients(ids[k * 10:k * 10 + 10],
                                               ids[k * 10 + 1:k * 10 + 11], h)
        model.update(grads, rnn.settings(learning_rate=0.1))
    return model, vocab


def save(path, model, vocab, config, run):
    """What the tools write at a checkpoint (save_model is gone)."""
    rnn.write_atomically(path, json.dumps(rnn.checkpoint_of(model, vocab,
                                                            config, run)))


def test_save_load_round_trip_is_exact(tmp_path):
    # exact: JSON writes floats with repr, which reads back to the same float
    model, vocab = trained_model()
    run = rnn.Run(model, len(vocab))
    run.iteration, run.position, run.state = 5, 50, [0.25] * 6
    run.smooth_loss, run.history["train"] = 3.5, [[0, 4.5], [5, 3.5]]
    path = str(tmp_path / "m.json")
    save(path, model, vocab, {"hidden_size": 6}, run)
    loaded, loaded_vocab, loaded_run, checkpoint = rnn.load_model(path)
    assert loaded_vocab == vocab and type(loaded) is rnn.RNN
    for name in rnn.PARAM_NAMES:
        assert getattr(loaded, name) == getattr(model, name)          # exact
        assert loaded.memory[name] == model.memory[name]
    assert vars(loaded_run) == vars(run)
    assert checkpoint["iteration"] == 5 and checkpoint["h"] == [0.25] * 6
    assert checkpoint["config"] == {"hidden_size": 6}
    prime = rnn.encode("Once", vocab)
    before = rnn.generate(model, vocab, prime, 50, 1.0, random.Random(7))
    after = rnn.generate(loaded, vocab, prime, 50, 1.0, random.Random(7))
    assert before == after


def test_model_file_has_the_documented_keys(tmp_path):
    model, vocab = trained_model(1)
    path = str(tmp_path / "m.json")
    save(path, model, vocab, {"x": 1}, rnn.Run(model, len(vocab)))
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    assert set(data["params"]) == set(rnn.PARAM_NAMES)
    assert set(data["memory"]) == set(rnn.PARAM_NAMES)
    for key in ("format", "cell", "vocab", "config", "iteration", "position",
                "h", "smooth_loss", "history"):
        assert key in data, key
    assert data["cell"] == "rnn" and set(data["history"]) == {"train", "val"}
    assert not [n for n in os.listdir(tmp_path) if n != "m.json"]  # no temp left


def test_loss_falls_on_a_repeated_string():
    # a 9-character cycle is easy: 300 updates must take the loss from
    # log2(8) = 3 bits/char to well under 1
    text = "abcabdabe" * 20
    vocab = sorted(set(text))
    ids = rnn.encode(text, vocab)
    model = rnn.RNN(len(vocab), 16, seed=0)
    start = rnn.evaluate(model, ids)
    h = [0.0] * 16
    for k in range(300):
        p = (k * 9) % (len(ids) - 10)
        _, grads, _ = model.loss_and_gradients(ids[p:p + 9], ids[p + 1:p + 10], h)
        model.update(grads, rnn.settings(learning_rate=0.1))
    end = rnn.evaluate(model, ids)
    assert start == pytest.approx(math.log2(len(vocab)), abs=0.05)
    assert end < 1.0, end


class RecordingRNN(rnn.RNN):
    """Records every chunk and state that training hands to the model."""

    def loss_and_gradients(self, inputs, targets, state):
        result = super().loss_and_gradients(inputs, targets, state)
        self.calls.append((inputs, targets, list(state), result[2]))
        return result


def test_training_walks_the_whole_text_and_carries_h(capsys):
    # exact: 23 ids, chunks of 10: 0-10, 10-20, 20-22 (short), then wrap to 0
    ids = [i % 5 for i in range(23)]
    model = RecordingRNN(5, 4, seed=0)
    model.calls = []
    settings = rnn.settings(max_iterations=5, sequence_length=10,
                            sample_every=1000, log_every=1000)
    run = rnn.Run(model, 5)
    rnn.train(model, ids, [], run, settings, sample=lambda: "")
    assert [len(c[0]) for c in model.calls] == [10, 10, 2, 10, 10]
    assert [c[0] for c in model.calls][:3] == [ids[0:10], ids[10:20], ids[20:22]]
    assert all(c[1] == ids[s + 1:s + 1 + len(c[0])] for c, s in
               zip(model.calls, [0, 10, 20, 0, 10]))
    assert model.calls[1][2] == model.calls[0][3]        # h carried over
    assert model.calls[2][2] == model.calls[1][3]
    assert model.calls[3][2] == [0.0] * 4                # reset at wrap-around
    assert run.iteration == 5 and run.position == 20
    assert run.state == model.calls[-1][3]


def test_after_update_runs_after_every_update_and_flags_checkpoints(capsys):
    # exact: the tools save where at_checkpoint is True: every sample_every
    # updates and at the last one
    model, seen = rnn.RNN(5, 4, seed=0), []
    s = rnn.settings(max_iterations=7, sequence_length=4, sample_every=3,
                     log_every=1000, sample_length=0)
    run = rnn.Run(model, 5)
    rnn.train(model, [i % 5 for i in range(30)], [1, 2, 3], run, s,
              sample=lambda: "", after_update=lambda at, _: seen.append(
                  (run.iteration, at)))
    assert seen == [(1, False), (2, False), (3, True), (4, False),
                    (5, False), (6, True), (7, True)]
    assert [it for it, _ in run.history["val"]] == [3, 6, 7]


def test_same_seed_trains_the_same_weights(tmp_path):
    # no hidden randomness: two runs with one seed write identical files
    outputs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        write(folder, "data.txt", STORY)
        result = run_main(folder, *TINY)
        assert result.returncode == 0, result.stderr
        outputs.append(model_bytes(folder / "model.json"))
    assert outputs[0] == outputs[1]


def test_end_to_end_train_then_generate(tmp_path):
    write(tmp_path, "data.txt", STORY)
    result = run_main(tmp_path, *TINY)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    vocab = sorted(set(STORY))
    before = re.search(r"^before training: val (\d\.\d\d) bits/char "
                       r"\((\d\.\d\d) expected: log2\((\d+)\); (\d\.\d\d) "
                       r"nats = ln\((\d+)\)\)$", out, re.M)
    n = len(vocab)                     # measured: the untrained V·h is near 0,
    assert float(before[1]) == pytest.approx(math.log2(n), abs=0.05)  # so
    assert before.group(2, 3, 4, 5) == (f"{math.log2(n):.2f}", str(n),  # p
                                        f"{math.log(n):.2f}", str(n))  # ~1/n
    assert "iter 20/20 | train " in out and " chars/s | " in out
    assert out.count("--- sample at iteration") == 2      # at 10 and 20
    assert "--- sample at temperature 0.5 " in out
    assert ("\nmodel: rnn, hidden 8, " in out and " weights; training 20 "
            "iterations of 10 characters, learning rate 0.05 (adagrad, clip "
            "5, clip norm 0), sample every "
            "10\n" in out)
    assert ("\nsaved model.json; loss chart: loss.svg; samples: samples.txt\n"
            in out)
    with open(tmp_path / "vocab.json", encoding="utf-8") as f:
        assert json.load(f) == vocab
    with open(tmp_path / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    assert config["hidden_size"] == 8 and config["vocab_size"] == len(vocab)
    with open(tmp_path / "model.json", encoding="utf-8") as f:
        assert json.load(f)["iteration"] == 20

    generated = run_main(tmp_path, "--generate", "Once upon",
                         "--sample-length", "40", "--seed", "3")
    assert generated.returncode == 0, generated.stderr
    assert generated.stderr == ""
    text = generated.stdout
    assert text.startswith("Once upon") and len(text) == len("Once upon") + 40 + 1
    assert set(text[:-1]) <= set(vocab)
    again = run_main(tmp_path, "--generate", "Once upon", "--sample-length",
                     "40", "--seed", "3")
    assert again.stdout == text                           # --seed reproduces


def committed(name):
    """The text of name as committed at HEAD: not the working tree, which
    the user's own runs (--resume --max-iterations 24000) may rewrite."""
    import subprocess
    try:
        return subprocess.run(["git", "show", f"HEAD:{name}"], cwd=REPO,
                              capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing committed to compare with")


def test_default_run_writes_the_committed_vocab_and_config(tmp_path, monkeypatch,
                                                           capsys):
    # a default run, in a temporary copy, writes vocab.json and config.json
    # as committed, byte for byte; training itself is skipped for speed
    shutil.copy(os.path.join(REPO, "data.txt"), tmp_path)
    monkeypatch.chdir(tmp_path)
    def no_training(model, train_ids, val_ids, run, s, sample,
                    after_update):
        run.iteration = 1
        run.history["train"].append([1, 5.0])
        after_update(True)              # the first checkpoint writes them
    monkeypatch.setattr(rnn, "train", no_training)
    monkeypatch.setattr(rnn, "counting_line",
                        lambda *args: ("", []))              # no n-grams
    assert rnn.main(["--sample-length", "0"]) == 0
    for name in ("vocab.json", "config.json"):
        assert (tmp_path / name).read_bytes() == committed(name), name


def test_another_model_names_its_files_after_itself(tmp_path):
    # gru.json's files are gru.vocab.json, gru.config.json, gru.loss.svg:
    # a second model leaves the default one's files, and the tracked ones,
    # as they were
    write(tmp_path, "data.txt", STORY)
    assert run_main(tmp_path, *TINY).returncode == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = run_main(tmp_path, *TINY, "--model", "gru.json", "--cell", "gru")
    assert result.returncode == 0, result.stderr
    assert ("\nsaved gru.json; loss chart: gru.loss.svg; samples: "
            "gru.samples.txt\n" in result.stdout)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(after) - set(before) == {"gru.json", "gru.vocab.json",
                                        "gru.config.json", "gru.loss.svg",
                                        "gru.samples.txt"}
    assert all(after[name] == before[name] for name in before), "changed"
    assert json.loads(after["gru.config.json"])["cell"] == "gru"
    assert rnn.beside(os.path.join("runs", "a.b.json"), "x.svg") == \
        os.path.join("runs", "a.b.x.svg")        # only the last suffix goes


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
