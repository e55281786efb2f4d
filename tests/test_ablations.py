"""The ablation settings (OPTIMIZER, CLIP, CLIP_NORM), the line before
training, and samples.txt: every checkpoint's sample on one page."""

import json
import math

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, assert_error, chunk, run_main, write


def old_update(model, grads, learning_rate):
    """Model.update as it was before the ablation settings, word for word:
    each entry clipped to ±5, then an Adagrad step."""
    for name in rnn.PARAM_NAMES:
        param, memory, grad = (getattr(model, name), model.memory[name],
                               grads[name])
        if name in ("b", "c"):                       # a vector: one row
            param, memory, grad = [param], [memory], [grad]
        for p_row, m_row, g_row in zip(param, memory, grad):
            g_row = [g if -5.0 <= g <= 5.0 else math.copysign(5.0, g)
                     for g in g_row]                 # clip
            m_row[:] = [m + g * g                    # memory += g²
                        for m, g in zip(m_row, g_row)]
            p_row[:] = [p - learning_rate * g / math.sqrt(m + 1e-8)
                        for p, g, m in zip(p_row, g_row, m_row)]


def params_of(model):
    return {n: getattr(model, n) for n in rnn.PARAM_NAMES}


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_the_defaults_train_the_old_weights_exactly(cell):
    # tolerance 0: the defaults (adagrad, CLIP 5, CLIP_NORM 0) must give
    # the weights of today's files, bit for bit, clipped entries included
    ours, old = (rnn.CELLS[cell](6, 5, seed=3) for _ in range(2))
    state = old_state = ours.zero_state()
    for k in range(6):
        inputs, targets = chunk(8, 6, seed=k)
        _, grads, state = ours.loss_and_gradients(inputs, targets, state)
        _, old_grads, old_state = old.loss_and_gradients(inputs, targets,
                                                         old_state)
        grads["W"][0][0] = old_grads["W"][0][0] = 40.0     # force a clip
        ours.update(grads, rnn.settings())
        old_update(old, old_grads, rnn.LEARNING_RATE)
    assert params_of(ours) == params_of(old)
    assert ours.memory == old.memory


def test_sgd_is_p_minus_lr_g_and_leaves_the_memory_alone():
    # exact: with no clipping, SGD is one multiply and one subtract per entry
    model = rnn.RNN(4, 5, seed=1)
    _, grads, _ = model.loss_and_gradients(*chunk(7, 4, seed=1),
                                           model.zero_state())
    grads["V"][0][0] = 40.0                          # not clipped: CLIP 0
    before = json.loads(json.dumps(params_of(model)))
    model.update(grads, rnn.settings(optimizer="sgd", clip=0.0,
                                     learning_rate=0.1))
    for n in rnn.PARAM_NAMES:
        rows = [before[n]] if n in "bc" else before[n]
        grad = [grads[n]] if n in "bc" else grads[n]
        got = [getattr(model, n)] if n in "bc" else getattr(model, n)
        assert got == [[p - 0.1 * g for p, g in zip(p_row, g_row)]
                       for p_row, g_row in zip(rows, grad)], n
    assert all(v == 0.0 for rows in model.memory.values()
               for row in (rows if isinstance(rows[0], list) else [rows])
               for v in row)


def test_norm_clipping_scales_the_whole_step_to_the_norm():
    # the step of SGD is lr·g, so its L2 norm over every parameter is
    # lr·CLIP_NORM once g is rescaled; 1e-12: a sum of ~200 squares
    model = rnn.RNN(4, 5, seed=2)
    _, grads, _ = model.loss_and_gradients(*chunk(7, 4, seed=2),
                                           model.zero_state())
    grads["W"][1][1] = 40.0                          # norm well above 1
    kept = json.dumps(grads)
    before = json.loads(json.dumps(params_of(model)))
    model.update(grads, rnn.settings(optimizer="sgd", clip=0.0,
                                     clip_norm=1.0, learning_rate=0.1))
    steps = [b - a for n in rnn.PARAM_NAMES
             for row_b, row_a in zip(*[[r] if n in "bc" else r for r in
                                       (before[n], getattr(model, n))])
             for b, a in zip(row_b, row_a)]
    assert math.sqrt(sum(d * d for d in steps)) == pytest.approx(0.1,
                                                                 rel=1e-12)
    assert json.dumps(grads) == kept                 # grads left as they were


@pytest.mark.parametrize("flag, value, words", [
    ("--optimizer", "adam", "must be adagrad or sgd, got 'adam'"),
    ("--clip", "-1", "must be a finite number >= 0 (0 = off)"),
    ("--clip-norm", "inf", "must be a finite number >= 0 (0 = off)"),
])
def test_bad_ablation_flags(tmp_path, flag, value, words):
    # one error line naming the flag, before anything is written
    write(tmp_path, "data.txt", STORY)
    assert_error(run_main(tmp_path, flag, value), flag, words)
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_unclipped_divergence_names_clip_norm(tmp_path):
    # plain SGD, nothing clipped, too high a rate: say clipping is off and
    # name --clip-norm beside a lower learning rate
    write(tmp_path, "data.txt", STORY)
    line = assert_error(run_main(tmp_path, *TINY, "--optimizer", "sgd",
                                 "--clip", "0", "--learning-rate", "3"),
                        "training diverged at iteration", "try 0.3 or less",
                        "or --clip-norm 5: clipping is off")
    assert line.endswith("no checkpoint was written to model.json")


def test_resume_keeps_the_ablation_settings(tmp_path):
    # saved in the model file, used again by --resume unless typed
    write(tmp_path, "data.txt", STORY)
    flags = ["--optimizer", "sgd", "--clip", "0", "--clip-norm", "2.5"]
    assert run_main(tmp_path, *TINY, *flags).returncode == 0
    saved = json.loads((tmp_path / "model.json").read_text("utf-8"))
    assert {k: saved["config"][k] for k in ("optimizer", "clip",
                                            "clip_norm")} == {
        "optimizer": "sgd", "clip": 0.0, "clip_norm": 2.5}
    result = run_main(tmp_path, *TINY, "--max-iterations", "25",
                      "--clip-norm", "3", "--resume")
    assert result.returncode == 0, result.stderr
    assert "notice: using model.json's --optimizer sgd, not OPTIMIZER = " \
           "'adagrad' at the top of the file" in result.stdout
    assert "notice: --clip-norm 3.0 replaces 2.5" in result.stdout
    config = json.loads((tmp_path / "model.json").read_text("utf-8"))["config"]
    assert (config["optimizer"], config["clip"], config["clip_norm"]) == (
        "sgd", 0.0, 3.0)


def headings(path):
    return [line for line in path.read_text("utf-8").splitlines()
            if line.startswith("--- iteration ")]


def test_samples_go_to_one_file_resume_appends_a_new_run_starts_anew(
        tmp_path):
    # one heading per checkpoint (iteration, train and val loss), then the
    # sample printed there; --resume appends, a new run starts a new file
    write(tmp_path, "data.txt", STORY)
    result = run_main(tmp_path, *TINY)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "samples.txt"
    first = headings(path)
    assert [h.split()[2] for h in first] == ["10", "20"]
    assert all(len(h) == 79 and " | train " in h and " bits/char | val "
               in h for h in first)
    text = path.read_text("utf-8")
    for n in (10, 20):                   # the same text as on the screen
        shown = result.stdout.split(f"--- sample at iteration {n} ")[1]
        assert shown.split("\n")[1] in text
    assert run_main(tmp_path, *TINY, "--max-iterations", "30",
                    "--resume").returncode == 0
    assert [h.split()[2] for h in headings(path)] == ["10", "20", "30"]
    assert run_main(tmp_path, *TINY, "--model", "b.json").returncode == 0
    assert run_main(tmp_path, *TINY).returncode == 0
    assert [h.split()[2] for h in headings(path)] == ["10", "20"]
    assert len(headings(tmp_path / "b.samples.txt")) == 2


def test_time_left_comes_from_the_recent_rate(tmp_path, monkeypatch,
                                               capsys):
    # a clock that slows down tenfold after 10 updates: time left follows
    # the rate since the last progress line, not the average since start
    clock = {"now": 0.0}
    monkeypatch.setattr(rnn.time, "monotonic", lambda: clock["now"])
    model = rnn.RNN(5, 4, seed=0)
    s = rnn.settings(max_iterations=40, sequence_length=4, sample_every=100,
                     log_every=10, sample_length=0)

    def tick(at_checkpoint, sampled):
        clock["now"] += 1.0 if model_run.iteration < 10 else 10.0
    model_run = rnn.Run(model, 5)
    rnn.train(model, [i % 5 for i in range(30)], [], model_run, s,
              sample=lambda: "", after_update=tick)
    lefts = [line.split(", ")[-1] for line in capsys.readouterr().out
             .splitlines() if line.startswith("iter ")]
    # exact: the clock ticks after each update, after its progress line:
    # at 10, 9 s for 10 updates, 30 to go: 27 s; at 20, 100 s for the
    # last 10, 20 to go: 200 s (the average since the start would say 109)
    assert lefts == ["0:27 left", "3:20 left", "1:40 left", "0:00 left"]
