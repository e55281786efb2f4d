"""The GRU and LSTM cells: gradients, state, update, sampling, and the
--cell flag end to end (train, generate, predict, resume)."""

import json
import math
import random
import shutil

import pytest

import naive_rnn
import rnn_from_scratch as rnn
from helpers import STORY, TINY, assert_error, chunk, model_bytes, run_main, write

GATED = [rnn.GRU, rnn.LSTM]


def random_model(cls, vocab_size=4, hidden_size=5, seed=0, scale=0.5):
    """A cell whose every weight is drawn from N(0, scale²), biases too."""
    model = cls(vocab_size, hidden_size, seed=seed)
    rng = random.Random(seed + 1)
    for name in rnn.PARAM_NAMES:
        param = getattr(model, name)
        for row in (param if isinstance(param[0], list) else [param]):
            row[:] = [rng.gauss(0.0, scale) for _ in row]
    return model


def random_state(model, seed):
    """A non-zero state: h, or the LSTM's [h, s] with |s| up to 1.5."""
    rng = random.Random(seed)
    hidden = len(model.V[0])
    h = [rng.uniform(-0.9, 0.9) for _ in range(hidden)]
    if isinstance(model.zero_state()[0], list):      # the LSTM's [h, s]
        return [h, [rng.uniform(-1.5, 1.5) for _ in range(hidden)]]
    return h


def rows_of(param):
    return param if isinstance(param[0], list) else [param]


def relative_error(a, b):
    return 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))


@pytest.mark.parametrize("cls", GATED)
@pytest.mark.parametrize("length", [1, 7])
def test_gradients_match_central_differences(cls, length):
    # every entry of every parameter, from a non-zero h (and cell state).
    # The gated cells' smallest entries are ~2e-6, where the 2-point
    # difference's round-off alone (~1e-16 * loss / step) is ~1e-5 relative,
    # so this uses the 4th-order central difference (f(±step), f(±2 step)),
    # whose error here is ~1e-7 at most, below the 1e-6 we require
    model = random_model(cls, seed=length)
    inputs, targets = chunk(length, 4, seed=length)
    state = random_state(model, seed=length)
    _, grads, _ = model.loss_and_gradients(inputs, targets, state)
    worst, step = 0.0, 1e-3

    def loss():
        return model.loss_and_gradients(inputs, targets, state)[0]

    for name in rnn.PARAM_NAMES:
        for row, grad_row in zip(rows_of(getattr(model, name)),
                                 rows_of(grads[name])):
            for j, saved in enumerate(row):
                f = {}
                for k in (-2, -1, 1, 2):
                    row[j] = saved + k * step
                    f[k] = loss()
                row[j] = saved
                numeric = (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * step)
                worst = max(worst, relative_error(grad_row[j], numeric))
    print(f"{cls.__name__} length {length}: worst relative error {worst:.1e}")
    assert worst <= 1e-6, f"worst relative error {worst:.2e}"


@pytest.mark.parametrize("cls", [rnn.RNN] + GATED)
def test_state_carries_across_chunks(cls):
    # one call over 2T characters = two calls of T, the second started from
    # the first's last state: same loss (to rounding) and the same state
    model = random_model(cls, vocab_size=5, hidden_size=6, seed=2)
    inputs, targets = chunk(12, 5, seed=4)
    state = random_state(model, seed=5)
    loss, _, last = model.loss_and_gradients(inputs, targets, state)
    loss_a, _, middle = model.loss_and_gradients(inputs[:6], targets[:6], state)
    loss_b, _, last_b = model.loss_and_gradients(inputs[6:], targets[6:], middle)
    assert loss == pytest.approx(loss_a + loss_b, rel=1e-13)  # summation order
    assert last_b == last                                      # same arithmetic


@pytest.mark.parametrize("cls", GATED)
def test_step_equals_the_chunk_forward_pass(cls):
    # sampling and --predict use step(); training uses step_forward: one
    # state, exactly (the same arithmetic)
    model = random_model(cls, seed=6)
    inputs, targets = chunk(5, 4, seed=6)
    state = random_state(model, seed=6)
    _, _, last = model.loss_and_gradients(inputs, targets, state)
    for x in inputs:
        state = model.step(x, state)
    assert state == last


@pytest.mark.parametrize("cls", GATED)
def test_update_is_clipped_adagrad_for_gated_shapes(cls):
    # the shared update must handle G-block U, W and b entry by entry;
    # 1e-12: the textbook update does the same operations, one at a time
    model = random_model(cls, seed=7)
    inputs, targets = chunk(6, 4, seed=7)
    _, grads, _ = model.loss_and_gradients(inputs, targets, model.zero_state())
    grads["W"][-1][0] = 40.0                                   # force clipping
    params = {n: [list(r) for r in rows_of(getattr(model, n))]
              for n in rnn.PARAM_NAMES}
    memory = {n: [[0.0] * len(r) for r in params[n]] for n in rnn.PARAM_NAMES}
    model.update(grads, rnn.settings(learning_rate=0.1))
    naive_rnn.adagrad_update(params, memory, {n: rows_of(grads[n])
                                              for n in rnn.PARAM_NAMES}, 0.1)
    for n in rnn.PARAM_NAMES:
        for got, want in zip(rows_of(getattr(model, n)), params[n]):
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15), n


def test_shapes_blocks_and_initial_biases():
    # exact: G blocks of `hidden` rows: rnn 1, gru 3, lstm 4; the LSTM's forget
    # block (the second) starts at bias 1, every other bias at 0
    for name, blocks in [("rnn", 1), ("gru", 3), ("lstm", 4)]:
        model = rnn.CELLS[name](7, 5, seed=0)
        assert len(model.U) == len(model.W) == len(model.b) == 5 * blocks
        assert len(model.U[0]) == 7 and len(model.W[0]) == 5
        assert len(model.V) == 7 and len(model.V[0]) == 5
    lstm = rnn.LSTM(7, 5, seed=0)
    assert lstm.b == [0.0] * 5 + [1.0] * 5 + [0.0] * 10
    assert lstm.zero_state() == [[0.0] * 5, [0.0] * 5]
    assert rnn.GRU(7, 5).zero_state() == [0.0] * 5


def test_sigmoid_never_overflows():
    # 1 / (1 + exp(1000)) would raise OverflowError; the tanh form must not
    assert rnn.sigmoid(-1000.0) == 0.0 and rnn.sigmoid(1000.0) == 1.0
    for x in (-3.0, -0.5, 0.0, 0.7, 4.0):
        assert rnn.sigmoid(x) == pytest.approx(1 / (1 + math.exp(-x)),
                                               rel=1e-15, abs=1e-16)


@pytest.mark.parametrize("cls", GATED)
def test_sample_is_reproducible_and_in_range(cls):
    # exact: the same rng seed draws the same indices
    model = random_model(cls, vocab_size=6, hidden_size=4, seed=8)
    drawn = model.sample(model.zero_state(), 2, 30, 1.0, random.Random(3))
    again = model.sample(model.zero_state(), 2, 30, 1.0, random.Random(3))
    assert drawn == again and len(drawn) == 30
    assert all(0 <= i < 6 for i in drawn)


# --- --cell end to end --------------------------------------------------------

def model_json(folder, name="model.json"):
    with open(folder / name, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """trained(cell) -> a folder holding STORY as data.txt and a TINY model
    of that cell, trained for 40 iterations (20 for the rnn); each cell is
    trained once per module. Copy the folder before writing to it."""
    folders = {}

    def folder_for(cell):
        if cell not in folders:
            folder = tmp_path_factory.mktemp(cell)
            write(folder, "data.txt", STORY)
            result = run_main(folder, *TINY, "--cell", cell,
                              "--max-iterations",
                              "20" if cell == "rnn" else "40")
            assert result.returncode == 0, result.stderr
            assert f"model: {cell}, hidden 8" in result.stdout
            folders[cell] = folder
        return folders[cell]
    return folder_for


def copy_of(folder, tmp_path):
    """A copy of a trained folder that a test may change."""
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    return tmp_path


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_cell_trains_generates_predicts_and_resumes_exactly(tmp_path, cell,
                                                            trained):
    # exact: 20 + 20 resumed iterations write the very file 40 straight do
    straight = trained(cell)                                 # 40 iterations
    data = model_json(straight)
    assert data["cell"] == cell and data["config"]["cell"] == cell
    assert len(data["params"]["U"]) == 8 * {"gru": 3, "lstm": 4}[cell]

    generated = run_main(straight, "--generate", "Once", "--sample-length",
                         "30")
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.startswith("Once") and len(generated.stdout) == 35
    predicted = run_main(straight, "--predict", "Once upon")
    assert predicted.returncode == 0, predicted.stderr
    assert "over 8 predictions" in predicted.stdout

    resumed = tmp_path
    write(resumed, "data.txt", STORY)
    assert run_main(resumed, *TINY, "--cell", cell, "--max-iterations", "20"
                    ).returncode == 0
    result = run_main(resumed, *TINY, "--max-iterations", "40", "--resume")
    assert result.returncode == 0, result.stderr             # cell from file
    assert f"model: {cell}, hidden 8" in result.stdout
    assert (model_bytes(straight / "model.json")
            == model_bytes(resumed / "model.json"))


def test_lstm_state_is_saved_as_h_and_cell_state(trained):
    # exact: JSON holds [h, s]; loading gives back the same [h, s]
    folder = trained("lstm")
    h = model_json(folder)["h"]
    assert len(h) == 2 and len(h[0]) == len(h[1]) == 8
    model, _, run, checkpoint = rnn.load_model(str(folder / "model.json"))
    assert type(model) is rnn.LSTM and checkpoint["h"] == [h[0], h[1]]
    assert run.state == [h[0], h[1]]
    assert model.hidden(run.state) == h[0]


def test_model_file_from_before_the_gated_cells_loads_as_rnn(tmp_path,
                                                             trained):
    folder = copy_of(trained("rnn"), tmp_path)
    data = model_json(folder)
    del data["cell"], data["config"]["cell"]                 # the old format
    (folder / "model.json").write_text(json.dumps(data), encoding="utf-8")
    model, _, _, _ = rnn.load_model(str(folder / "model.json"))
    assert type(model) is rnn.RNN
    result = run_main(folder, "--generate", "Once", "--sample-length", "10")
    assert result.returncode == 0, result.stderr


def test_resume_with_another_cell_is_refused(trained):
    # refused before anything is written, so the shared folder stays as is
    assert_error(run_main(trained("rnn"), *TINY, "--cell", "lstm",
                          "--max-iterations", "30", "--resume"),
                 "--cell lstm", "model.json", "has rnn")


def test_unknown_cell_flag(tmp_path):
    write(tmp_path, "data.txt", STORY)
    assert_error(run_main(tmp_path, "--cell", "transformer"), "--cell",
                 "rnn, gru, lstm", "'transformer'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.txt"]


def edit(folder, change):
    data = model_json(folder)
    change(data)
    (folder / "model.json").write_text(json.dumps(data), encoding="utf-8")


def test_gated_file_with_a_wrong_block_count(tmp_path, trained):
    # a GRU's 3 blocks under "cell": "lstm": the error names the 4 blocks'
    # 32 rows (the old wording named the blocks: "U (4 lstm blocks of 8)")
    folder = copy_of(trained("gru"), tmp_path)
    edit(folder, lambda d: d.__setitem__("cell", "lstm"))
    assert_error(run_main(folder, "--generate", "Once"), "model.json",
                 "U should be 32×")


def test_gated_file_with_one_block_missing_from_w(tmp_path, trained):
    folder = copy_of(trained("lstm"), tmp_path)
    edit(folder, lambda d: d["params"]["W"].__delitem__(slice(8)))
    assert_error(run_main(folder, "--generate", "Once"), "model.json",
                 "W should be 32×8")


@pytest.mark.parametrize("value", ["transformer", ["lstm"], 3])
def test_model_file_with_an_unknown_cell(tmp_path, trained, value):
    folder = copy_of(trained("rnn"), tmp_path)
    edit(folder, lambda d: d.__setitem__("cell", value))
    assert_error(run_main(folder, "--generate", "Once"), "model.json",
                 "'cell' must be one of rnn, gru, lstm")
