"""Greedy decoding (--temperature 0) and top-k sampling (--top-k)."""

import random

import rnn_from_scratch as rnn
from helpers import STORY, TINY, assert_error, run_main, write


def random_model(cell="rnn", hidden=8, seed=3):
    vocab = sorted(set(STORY))
    return rnn.CELLS[cell](len(vocab), hidden, seed=seed), vocab


def states_along(model, first, drawn):
    """The state from which each drawn index was picked."""
    state, states = model.zero_state(), []
    for x in [first] + drawn[:-1]:
        state = model.step(x, state)
        states.append(state)
    return states


def test_greedy_is_the_argmax_continuation():
    # exact: the same floats go through the same max
    for cell in ("rnn", "gru", "lstm"):
        model, _ = random_model(cell)
        drawn = model.sample(model.zero_state(), 0, 40, 0.0, random.Random(1))
        h, x, argmaxes = model.zero_state(), 0, []
        for _ in range(40):
            h = model.step(x, h)
            scores = model.scores(h)
            x = scores.index(max(scores))
            argmaxes.append(x)
        assert drawn == argmaxes, cell


def test_greedy_is_the_same_for_every_seed():
    # exact: greedy never draws from the rng, so the seed cannot matter
    model, _ = random_model()
    runs = {tuple(model.sample(model.zero_state(), 2, 30, 0.0,
                               random.Random(seed))) for seed in range(5)}
    assert len(runs) == 1


def test_top_k_1_equals_greedy_at_any_temperature():
    # exact: with one candidate left, the draw is the argmax whatever T is
    model, _ = random_model("gru")
    greedy = model.sample(model.zero_state(), 1, 40, 0.0, random.Random(0))
    for seed, temperature in [(1, 0.5), (2, 1.0), (3, 3.0)]:
        drawn = model.sample(model.zero_state(), 1, 40, temperature,
                             random.Random(seed), top_k=1)
        assert drawn == greedy


def test_top_k_3_never_draws_outside_the_top_3():
    # temperature 5 flattens the softmax, so without top-k many indices
    # outside the top 3 would be drawn in 300 steps
    model, _ = random_model()
    drawn = model.sample(model.zero_state(), 0, 300, 5.0, random.Random(4),
                         top_k=3)
    for state, x in zip(states_along(model, 0, drawn), drawn):
        scores = model.scores(state)
        top3 = sorted(range(len(scores)), key=lambda i: -scores[i])[:3]
        assert x in top3
    assert len(set(drawn)) > 3          # the top 3 moves with the state
    plain = model.sample(model.zero_state(), 0, 300, 5.0, random.Random(4))
    outside = 0
    for state, x in zip(states_along(model, 0, plain), plain):
        scores = model.scores(state)
        outside += x not in sorted(range(len(scores)),
                                   key=lambda i: -scores[i])[:3]
    assert outside > 30                 # so the check above can fail


def test_top_k_off_draws_as_before():
    # top_k 0 keeps the old draw: softmax(scores / T), one rng.choices each
    model, _ = random_model()
    rng, h, x, old = random.Random(9), model.zero_state(), 5, []
    for _ in range(50):
        h = model.step(x, h)
        probs, _ = rnn.softmax([s / 0.7 for s in model.scores(h)])
        x = rng.choices(range(len(probs)), weights=probs)[0]
        old.append(x)
    assert model.sample(model.zero_state(), 5, 50, 0.7,
                        random.Random(9)) == old


def test_generate_flags_end_to_end(tmp_path):
    # exact: greedy ignores the seed, and top-k 1 is greedy
    write(tmp_path, "data.txt", STORY)
    assert run_main(tmp_path, *TINY).returncode == 0
    greedy = [run_main(tmp_path, "--generate", "Once", "--temperature", "0",
                       "--seed", seed).stdout for seed in ("1", "2")]
    assert greedy[0] == greedy[1] and greedy[0].startswith("Once")
    top1 = run_main(tmp_path, "--generate", "Once", "--top-k", "1",
                    "--seed", "5")
    assert top1.stdout == greedy[0]
    assert_error(run_main(tmp_path, "--generate", "Once", "--top-k", "-1"),
                 "--top-k")


def test_a_top_k_that_cuts_nothing_draws_as_top_k_off():
    # top_k = vocab keeps every character in index order: the same seed
    # then draws the very same text, so a comparison across top-k is fair
    model, vocab = random_model("gru")
    off = model.sample(model.zero_state(), 2, 60, 1.0, random.Random(7))
    full = model.sample(model.zero_state(), 2, 60, 1.0, random.Random(7),
                        top_k=len(vocab))
    assert full == off
