"""The exercise loop: --exercise makes a handout, every training run checks
its cell's gradients first, and a failure points at the student's own line
and at the gate blocks that fail."""

import ast
import os
import shutil
import subprocess
import sys

import pytest

import rnn_from_scratch as rnn
from helpers import SCRIPT, STORY, TINY, assert_error, run_main, write

ORIGINAL = open(SCRIPT, encoding="utf-8").read()


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    """rnn_from_scratch.py copied to a folder with a data file, and
    --exercise lstm run there, as an instructor would, in a real process."""
    folder = tmp_path_factory.mktemp("course")
    shutil.copy(SCRIPT, folder)
    write(folder, "data.txt", STORY)
    return folder, run_file(folder, "rnn_from_scratch.py", "--exercise",
                            "lstm")


def body_of(source, cls):
    """The source lines of cls.step_backward after its docstring."""
    klass = next(n for n in ast.parse(source).body
                 if getattr(n, "name", "") == cls)
    method = next(n for n in klass.body if getattr(n, "name", "") ==
                  "step_backward")
    lines = source.split("\n")
    return lines[method.body[0].end_lineno:method.end_lineno]


def test_the_handout_blanks_one_body_and_keeps_every_other_byte(handout):
    folder, result = handout
    path = folder / "rnn_from_scratch_lstm_exercise.py"
    assert result.returncode == 0, result.stderr
    assert str(path) in result.stdout                 # it says where
    text = path.read_text(encoding="utf-8")
    blank = body_of(text, "LSTMCell")
    assert blank[-1] == '        raise NotImplementedError("your code here")'
    assert all(line.startswith("        # ") for line in blank[:-1])
    assert "grading takes this function alone" in " ".join(blank)
    # everything but the body is the original, byte for byte: the
    # signature and docstring (the shapes) stay, the derivation goes
    removed = body_of(ORIGINAL, "LSTMCell")
    start = ORIGINAL.index("\n".join(removed))
    assert text == (ORIGINAL[:start] + "\n".join(blank)
                    + ORIGINAL[start + len("\n".join(removed)):])
    assert "ds_prev = ds ⊙ f" in ORIGINAL and "ds_prev = ds ⊙ f" not in text
    assert (folder / "rnn_from_scratch.py").read_text(
        encoding="utf-8") == ORIGINAL                 # the original untouched


def test_the_handout_is_never_overwritten(handout):
    folder, _ = handout
    path = folder / "rnn_from_scratch_lstm_exercise.py"
    before = path.read_bytes()
    again = run_file(folder, "rnn_from_scratch.py", "--exercise", "lstm")
    assert_error(again, str(path), "exists")
    assert path.read_bytes() == before
    assert_error(run_main(folder, "--exercise", "lsmt"), "--exercise",
                 "'lsmt'")


def test_without_a_file_on_disk_exercise_says_so_in_one_line(monkeypatch,
                                                              capsys):
    # a pasted notebook cell or a browser tab: the code has no __file__
    monkeypatch.delitem(rnn.__dict__, "__file__")
    assert rnn.main(["--exercise", "gru"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: --exercise reads this file")


def run_file(folder, name, *args):
    """python NAME args, in folder: a handout, or a student's file."""
    return subprocess.run([sys.executable, name, *args], cwd=folder,
                          capture_output=True, text=True, encoding="utf-8",
                          timeout=60)


def test_the_handouts_check_fails_for_its_cell_alone(handout):
    folder, _ = handout
    result = run_file(folder, "rnn_from_scratch_lstm_exercise.py", "--check")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    fails = [line for line in lines if line.startswith("FAIL")]
    assert len(fails) == 1 and fails[0].startswith(
        "FAIL lstm: NotImplementedError: your code here (line ")
    assert 'in step_backward: raise NotImplementedError("your code here")' \
        in fails[0]                                   # the student's line
    assert lines[-1].startswith("check failed: lstm (")


def test_the_handout_filled_in_right_passes(handout, tmp_path):
    folder, _ = handout
    text = (folder / "rnn_from_scratch_lstm_exercise.py").read_text(
        encoding="utf-8")
    blank = "\n".join(body_of(text, "LSTMCell"))
    answer = "\n".join(line.split("#")[0].rstrip()    # no comments needed
                       for line in body_of(ORIGINAL, "LSTMCell"))
    write(tmp_path, "student.py", text.replace(blank, answer, 1))
    result = run_file(tmp_path, "student.py", "--check")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1].startswith(
        "all passed: rnn, gru, lstm")


def forget_the_forget_gate(self, dh_out, d_next, cache, WT):
    """The LSTM's step back with ds_prev = ds, the forget gate forgotten:
    the right ds_prev = ds ⊙ f divided by f again (f = σ(·) is never 0)."""
    da, dWh, (dh_prev, ds_prev) = ORIGINAL_LSTM_BACKWARD(self, dh_out, d_next,
                                                         cache, WT)
    f = cache[2]
    return da, dWh, [dh_prev, [d / fi for d, fi in zip(ds_prev, f)]]


ORIGINAL_LSTM_BACKWARD = rnn.LSTMCell.step_backward


def test_training_checks_its_cell_first(tmp_path):
    # one line, well under a second, before the first update
    write(tmp_path, "data.txt", STORY)
    result = run_main(tmp_path, *TINY, "--cell", "gru")
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines()
                if l.startswith("check: "))
    assert line.startswith("check: the gru gradients match central "
                           "differences (worst relative error ")
    seconds = float(line.rsplit(", ", 1)[1].split(" s)")[0])
    assert seconds < 1.0                          # it costs under a second


def test_a_wrong_backward_pass_stops_training_before_any_update(tmp_path,
                                                                monkeypatch):
    # ds_prev = ds trains "normally" to a worse loss; the check refuses it
    monkeypatch.setattr(rnn.LSTMCell, "step_backward", forget_the_forget_gate)
    write(tmp_path, "data.txt", STORY)
    result = run_main(tmp_path, *TINY, "--cell", "lstm")
    assert_error(result, "lstm backward pass fails the gradient check",
                 "--check --cell lstm")
    assert "iter " not in result.stdout              # no update ran
    assert any(l.startswith("FAIL lstm ") for l in result.stdout.splitlines())
    assert sorted(os.listdir(tmp_path)) == ["data.txt"]   # no file written


def no_tanh_slope(self, dh_out, d_next, cache, WT):
    """The LSTM's step back with tanh' missing from ds, the line that the
    i, f and g blocks share."""
    s, i, f, g, o, tanh_s = cache
    dh_next, ds_next = d_next
    dh = [d1 + d2 for d1, d2 in zip(dh_out, dh_next)]
    ds = [d_s + d * oi for d_s, d, oi in zip(ds_next, dh, o)]   # the bug
    dpre = ([d * gi * ii * (1 - ii) for d, gi, ii in zip(ds, g, i)]
            + [d * si * fi * (1 - fi) for d, si, fi in zip(ds, s, f)]
            + [d * ii * (1 - gi * gi) for d, ii, gi in zip(ds, i, g)]
            + [d * ti * oi * (1 - oi) for d, ti, oi in zip(dh, tanh_s, o)])
    return dpre, dpre, [rnn.matvec(WT, dpre),
                        [d * fi for d, fi in zip(ds, f)]]


def test_a_shared_line_shows_which_gate_blocks_pass(monkeypatch, capsys):
    # on a 1-character chunk the i, f and g blocks fail and o passes,
    # which points at the one line they share
    monkeypatch.setattr(rnn.LSTMCell, "step_backward", no_tanh_slope)
    assert rnn.main(["--check", "--cell", "lstm"]) == 1
    lines = capsys.readouterr().out.splitlines()
    for p in "UWb":
        row = next(l for l in lines if l.startswith(f"  {p} by block"))
        verdicts = dict(part.split()[::2] for part in
                        row.split(": ", 1)[1].split("  "))
        assert verdicts == {"i": "FAIL", "f": "FAIL", "g": "FAIL", "o": "ok"}


def step_backward(self, dh_out, dh_next, cache, WT):
    """A student's vanilla step back whose second line raises inside a
    list-math helper (softmax of nothing: max() of an empty list)."""
    dh = [d1 + d2 for d1, d2 in zip(dh_out, dh_next)]
    probs, _ = rnn.softmax(dh[:0])
    return dh, dh, dh


def test_a_raising_cell_names_the_students_line(monkeypatch, capsys):
    # the exception is raised in softmax, below the student's line; the
    # line printed is the deepest one of step_backward, with its text
    monkeypatch.setattr(rnn.RNNCell, "step_backward", step_backward)
    assert rnn.main(["--check", "--cell", "rnn"]) == 1
    fail = [l for l in capsys.readouterr().out.splitlines()
            if l.startswith("FAIL")]
    assert len(fail) == 1 and fail[0].startswith("FAIL rnn: ValueError: ")
    assert fail[0].endswith("in step_backward: probs, _ = "
                            "rnn.softmax(dh[:0]))")


def test_a_wrong_return_shape_points_at_the_return_value(monkeypatch,
                                                         capsys):
    # nothing raises inside the cell; the chunk loop fails on what it got
    def two_values(self, dh_out, dh_next, cache, WT):
        return ORIGINAL_RNN_BACKWARD(self, dh_out, dh_next, cache, WT)[1:]
    monkeypatch.setattr(rnn.RNNCell, "step_backward", two_values)
    assert rnn.main(["--check", "--cell", "rnn"]) == 1
    fail = [l for l in capsys.readouterr().out.splitlines()
            if l.startswith("FAIL")]
    assert fail[0].startswith("FAIL rnn: step_backward returns outputs of "
                              "4, 4; they should be 4, 4, 4")


ORIGINAL_RNN_BACKWARD = rnn.RNNCell.step_backward
