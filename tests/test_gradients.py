"""The gradients of the vanilla RNN (rnn_from_scratch.RNN), checked two
independent ways: central differences, and the naive textbook
implementation in naive_rnn.py."""

import math
import random

import pytest

import naive_rnn
from helpers import chunk
from rnn_from_scratch import PARAM_NAMES, RNN, settings, softmax, zeros_like


def small_model(vocab_size=4, hidden_size=5, seed=0, scale=0.5):
    """A model with weights big enough that every gradient entry matters."""
    model = RNN(vocab_size, hidden_size, seed=seed)
    rng = random.Random(seed + 1)
    for name in PARAM_NAMES:
        param = getattr(model, name)
        rows = param if isinstance(param[0], list) else [param]
        for row in rows:
            row[:] = [rng.gauss(0.0, scale) for _ in row]
    return model


def entries(param):
    """(row, index) for every entry of a vector or a matrix."""
    rows = param if isinstance(param[0], list) else [param]
    return [(row, j) for row in rows for j in range(len(row))]


def copy_of(param):
    return [list(r) for r in param] if isinstance(param[0], list) else list(param)


def relative_error(a, b):
    return 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))


@pytest.mark.parametrize("length", [1, 7])
def test_gradients_match_central_differences(length):
    # every entry of every parameter; float64 central differences have
    # error ~1e-10 here, far below the 1e-6 relative error we require
    model = small_model()
    inputs, targets = chunk(length, 4, seed=length)
    h_prev = [0.3, -0.2, 0.5, -0.7, 0.1]                   # non-zero on purpose
    _, grads, _ = model.loss_and_gradients(inputs, targets, h_prev)
    worst, step = 0.0, 1e-5
    for name in PARAM_NAMES:
        grad_entries = entries(grads[name])
        for k, (row, j) in enumerate(entries(getattr(model, name))):
            saved = row[j]
            row[j] = saved + step
            loss_plus = model.loss_and_gradients(inputs, targets, h_prev)[0]
            row[j] = saved - step
            loss_minus = model.loss_and_gradients(inputs, targets, h_prev)[0]
            row[j] = saved
            numeric = (loss_plus - loss_minus) / (2 * step)
            grad_row, grad_j = grad_entries[k]
            worst = max(worst, relative_error(grad_row[grad_j], numeric))
    print(f"length {length}: worst relative error {worst:.1e}")
    assert worst <= 1e-6, f"worst relative error {worst:.2e}"


@pytest.mark.parametrize("length", [1, 2, 7, 25])
def test_class_matches_naive_textbook_version(length):
    # two independent implementations of the same sums: only rounding differs
    model = small_model(vocab_size=6, hidden_size=8, seed=length)
    inputs, targets = chunk(length, 6, seed=10 + length)
    h_prev = [math.sin(i) for i in range(8)]
    loss, grads, h_last = model.loss_and_gradients(inputs, targets, h_prev)
    params = [getattr(model, name) for name in PARAM_NAMES]
    naive_loss, naive_grads, naive_h = naive_rnn.loss_and_gradients(
        *params, inputs, targets, h_prev)
    assert loss == pytest.approx(naive_loss, rel=1e-12, abs=1e-12)
    assert h_last == pytest.approx(naive_h, rel=1e-12, abs=1e-12)
    for name in PARAM_NAMES:
        got, want = entries(grads[name]), entries(naive_grads[name])
        for (row, j), (naive_row, naive_j) in zip(got, want):
            assert row[j] == pytest.approx(naive_row[naive_j], rel=1e-12,
                                           abs=1e-12), name


def test_edited_parameters_are_used():
    # users may reassign the weight lists: every method must read them fresh
    model = small_model(seed=3)
    inputs, targets = chunk(5, 4, seed=3)
    model.W = [[0.1 * (i - j) for j in range(5)] for i in range(5)]
    model.c[2] = 3.0
    loss, _, _ = model.loss_and_gradients(inputs, targets, [0.0] * 5)
    naive_loss, _, _ = naive_rnn.loss_and_gradients(
        *[getattr(model, n) for n in PARAM_NAMES], inputs, targets, [0.0] * 5)
    assert loss == pytest.approx(naive_loss, rel=1e-12)


def test_update_is_clipped_adagrad_and_leaves_grads_alone():
    # update must equal the textbook clip + Adagrad, entry by entry, and must
    # not clip the caller's gradients (tests see the true ones)
    model = small_model(seed=4)
    inputs, targets = chunk(7, 4, seed=4)
    _, grads, _ = model.loss_and_gradients(inputs, targets, [0.0] * 5)
    grads["W"][0][0], grads["c"][1] = 40.0, -12.0           # force clipping
    before = {n: copy_of(grads[n]) for n in PARAM_NAMES}
    params = {n: copy_of(getattr(model, n)) for n in PARAM_NAMES}
    memory = {n: zeros_like(params[n]) for n in PARAM_NAMES}
    for _ in range(3):
        model.update(grads, settings(learning_rate=0.1))
        naive_rnn.adagrad_update(params, memory, grads, 0.1)
    assert grads == before
    for n in PARAM_NAMES:
        for (row, j), (naive_row, naive_j) in zip(entries(getattr(model, n)),
                                                  entries(params[n])):
            assert row[j] == pytest.approx(naive_row[naive_j], rel=1e-12, abs=1e-15)


def test_softmax_is_stable_for_huge_scores():
    # exp(1000) overflows; subtracting the max first must not
    probs, lse = softmax([1000.0, 0.0, -1000.0])
    assert probs[0] == pytest.approx(1.0, abs=1e-15)      # the others underflow
    assert lse == pytest.approx(1000.0, abs=1e-12)


def test_loss_is_finite_when_a_probability_underflows():
    # p[target] underflows to 0.0; log-sum-exp still gives the exact loss
    model = small_model(vocab_size=3, hidden_size=2)
    model.V = [[0.0, 0.0]] * 3
    model.c = [900.0, 0.0, -900.0]
    loss, grads, _ = model.loss_and_gradients([0], [2], [0.0, 0.0])
    assert loss == pytest.approx(1800.0, rel=1e-12)       # -log p = 1800 nats
    assert grads["c"][2] == pytest.approx(-1.0, abs=1e-12)
