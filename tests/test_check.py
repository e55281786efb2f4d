"""--check: the self-test a student runs after editing a cell. It must pass
on the file as it is, and fail, naming the cell, for a broken backward line,
for a forward and backward changed the same wrong way, and for a gradient
that is off by only 1%."""

import math
import random

import pytest

import rnn_from_scratch as rnn
from helpers import run


def check(capsys, *flags):
    """(exit status, printed lines) of main(["--check", *flags])."""
    status = rnn.main(["--check", *flags])
    return status, capsys.readouterr().out.splitlines()


def fails(lines):
    return [line for line in lines if line.startswith("FAIL ")]


@pytest.fixture(scope="module")
def command_line_check(tmp_path_factory):
    """python rnn_from_scratch.py --check, once, in an empty folder: no
    data.txt, no model, no tests folder needed. Two tests read it."""
    folder = tmp_path_factory.mktemp("empty")
    return folder, run(folder, "--check")


def test_check_passes_from_the_command_line_without_data(command_line_check):
    folder, result = command_line_check
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all passed: rnn, gru, lstm" in result.stdout
    rows = [line for line in result.stdout.splitlines()
            if line.endswith(("ok", "FAIL"))]
    assert len(rows) == 3 * 6 and all(r.endswith(" ok") for r in rows)
    assert list(folder.iterdir()) == []                      # wrote nothing


def test_check_reports_every_parameter_well_inside_the_tolerance(
        command_line_check):
    # the worst error printed per parameter: at least 100x below 1e-6, so
    # the tolerance is not set at the edge of what the right code reaches
    _, result = command_line_check
    errors = [float(line.split()[-2]) for line in result.stdout.splitlines()
              if line.endswith(" ok") and "forward" not in line]
    assert len(errors) == 15 and max(errors) < 1e-8


def test_explicit_cell_checks_only_that_cell(capsys):
    status, lines = check(capsys, "--cell", "lstm")
    assert status == 0 and lines[-1].startswith("all passed: lstm (")
    assert not any(line.startswith(("rnn ", "gru ")) for line in lines)


def test_recorded_losses_are_what_the_problems_give():
    # the values in the file are the forward pass's, to 1e-12 (relative)
    for name, recorded in rnn.CHECK_LOSS.items():
        model, inputs, targets, state = rnn.random_problem(name, *(
            rnn.CHECK_SIZES[k] for k in ("vocab", "hidden", "length")),
            random.Random(rnn.CHECK_SIZES["seed"]))
        loss = model.loss_and_gradients(inputs, targets, state)[0]
        assert math.isclose(loss, recorded, rel_tol=1e-12), name


def test_a_broken_gru_backward_line_fails_naming_the_cell(capsys,
                                                          monkeypatch):
    # dz_raw with the wrong sign, as if (n - h) were written for (h - n)
    right = rnn.GRU.step_backward

    def broken(self, dh_out, dh_next, cache, WT):
        da, dWh, dh_prev = right(self, dh_out, dh_next, cache, WT)
        H = len(dh_prev)
        for d in (da, dWh):
            d[H:2 * H] = [-v for v in d[H:2 * H]]
        return da, dWh, dh_prev

    monkeypatch.setattr(rnn.GRU, "step_backward", broken)
    status, lines = check(capsys, "--cell", "gru")   # no other cell uses it
    assert status == 1
    assert {line.split(":")[0] for line in fails(lines)} == {
        "FAIL gru U", "FAIL gru W", "FAIL gru b"}
    blocks = [l.split(": ")[1].split("  ") for l in lines if "by block" in l]
    assert [[b.split()[::2] for b in row] for row in blocks] == [
        [["r", "ok"], ["z", "FAIL"], ["n", "ok"]]] * 3     # the z gate
    assert "hint: the gru fails on a 1-character chunk too, so the error is " \
        "within one step" in lines
    assert lines[-1].startswith("check failed: gru (")


def test_a_wrong_carried_gradient_gets_its_own_hint(capsys, monkeypatch):
    # ds_prev = ds, forgetting ⊙ f: one step alone is right, so the hint
    # points at what goes back to the previous step
    right = rnn.LSTM.step_backward

    def forgot_f(self, dh_out, d_next, cache, WT):
        dpre, same, (dh_prev, ds_prev) = right(self, dh_out, d_next, cache,
                                               WT)
        f = cache[2]
        return dpre, same, (dh_prev, [d / fi for d, fi in zip(ds_prev, f)])

    monkeypatch.setattr(rnn.LSTM, "step_backward", forgot_f)
    status, lines = check(capsys, "--cell", "lstm")
    assert status == 1 and fails(lines)
    assert ("hint: on a 1-character chunk every lstm gradient passes, so the "
            "error is in what goes back to the previous step (dh_next, "
            "dh_prev, ds_next, ds_prev)") in lines


def test_a_gradient_of_the_wrong_shape_is_named(capsys, monkeypatch):
    # zip would quietly cut a short dW: the check must say so instead
    right = rnn.RNN.loss_and_gradients

    def short(self, inputs, targets, state):
        loss, grads, last = right(self, inputs, targets, state)
        grads["W"] = grads["W"][:-1]
        return loss, grads, last

    monkeypatch.setattr(rnn.RNN, "loss_and_gradients", short)
    status, lines = check(capsys, "--cell", "rnn")
    assert status == 1
    assert "FAIL rnn: dW should have the shape of W" in lines
    assert "rnn   stopped: see below" in lines


def test_flags_that_check_ignores_are_named(capsys):
    status, lines = check(capsys, "--hidden-size", "8", "--cell", "rnn")
    assert status == 0
    assert lines[0] == ("notice: --check uses its own fixed problem and "
                        "ignores --hidden-size")


def test_forward_and_backward_wrong_the_same_way_fail_on_the_loss(
        capsys, monkeypatch):
    # every gate's σ(x) becomes σ(x + 0.5), and the backward's z(1 - z) is
    # still its derivative: the gradients agree, only the loss catches it
    right = rnn.sigmoid
    monkeypatch.setattr(rnn, "sigmoid", lambda x: right(x + 0.5))
    status, lines = check(capsys)
    assert status == 1
    assert [line.split(":")[0] for line in fails(lines)] == [
        "FAIL gru forward", "FAIL lstm forward"]
    gradient_rows = [line for line in lines if line.endswith((" ok", "FAIL"))
                     and "forward" not in line]
    assert len(gradient_rows) == 15
    assert all(line.endswith(" ok") for line in gradient_rows)
    assert "set CHECK_LOSS['gru'] = " in fails(lines)[0]
    assert lines[-1].startswith("check failed: gru, lstm (")


def test_a_shifted_vanilla_cell_fails_on_the_loss_only(capsys, monkeypatch):
    # h = tanh(... + 0.5) in the forward; the backward's 1 - h² is still
    # its derivative, so only the recorded loss can tell
    def shifted(self, x, h):
        h_new = [math.tanh(U_row[x] + rnn.dot(W_row, h) + b_i + 0.5)
                 for U_row, W_row, b_i in zip(self.U, self.W, self.b)]
        return h_new, h_new                      # the cache is h' itself

    monkeypatch.setattr(rnn.RNN, "step_forward", shifted)
    status, lines = check(capsys, "--cell", "rnn")
    assert status == 1
    assert [line.split(":")[0] for line in fails(lines)] == [
        "FAIL rnn forward"]


def test_a_vanilla_gradient_off_by_one_percent_fails(capsys, monkeypatch):
    # dW scaled by 1.01: a relative error of 0.01/1.01, 10^4 x the tolerance
    right = rnn.RNN.loss_and_gradients

    def scaled(self, inputs, targets, state):
        loss, grads, last = right(self, inputs, targets, state)
        grads["W"] = [[1.01 * v for v in row] for row in grads["W"]]
        return loss, grads, last

    monkeypatch.setattr(rnn.RNN, "loss_and_gradients", scaled)
    status, lines = check(capsys, "--cell", "rnn")   # GRU, LSTM don't use it
    assert status == 1
    assert [line.split(":")[0] for line in fails(lines)] == ["FAIL rnn W"]
    assert "relative error 9.9e-03" in fails(lines)[0]
    assert lines[-1].startswith("check failed: rnn (")


def test_a_blanked_out_backward_fails_on_one_line(capsys, monkeypatch):
    # an assignment hands out step_backward as `raise NotImplementedError`:
    # --check names the cell and the line instead of stopping at a traceback
    def blank(self, dh_out, d_next, cache, WT):
        raise NotImplementedError("your code here")

    monkeypatch.setattr(rnn.LSTM, "step_backward", blank)
    status, lines = check(capsys)
    assert status == 1
    assert fails(lines) == [next(line for line in lines if line.startswith(
        "FAIL lstm: NotImplementedError: your code here (line "))]
    assert lines[-1].startswith("check failed: lstm (")
