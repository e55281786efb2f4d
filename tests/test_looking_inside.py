"""The loss chart (SVG and text), --predict, multi-temperature sampling,
and views of a corrupted model file."""

import json
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, assert_error, write
from helpers import run_main as cli

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder with data.txt, and the output of training a tiny model."""
    folder = tmp_path_factory.mktemp("trained")
    write(folder, "data.txt", STORY)
    result = cli(folder, *TINY, "--max-iterations", "40")
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


def history_of(folder):
    with open(folder / "model.json", encoding="utf-8") as f:
        return json.load(f)["history"]


def test_svg_is_well_formed_and_matches_the_history(trained):
    folder, _ = trained
    root = ET.parse(folder / "loss.svg").getroot()          # raises if malformed
    assert root.tag == SVG + "svg"
    history = history_of(folder)
    assert len(history["train"]) == 9 and len(history["val"]) == 4  # 0..40 by 5
    lines = {p.get("class"): p.get("points").split()
             for p in root.iter(SVG + "polyline")}
    assert set(lines) == {"train", "val"}
    assert len(lines["train"]) == len(history["train"])
    assert len(lines["val"]) == len(history["val"])


def test_svg_points_lie_inside_the_axes(trained):
    folder, _ = trained
    root = ET.parse(folder / "loss.svg").getroot()
    axes = next(p.get("d") for p in root.iter(SVG + "path"))
    left, top, bottom, right = map(float, re.findall(r"[\d.]+", axes))
    for line in root.iter(SVG + "polyline"):
        for point in line.get("points").split():
            x, y = map(float, point.split(","))
            assert left <= x <= right and top <= y <= bottom, point
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "iteration" in texts and "bits per character" in texts
    assert "train (smoothed)" in texts and "validation" in texts
    assert any("hidden 8" in t for t in texts)                 # the title


def test_text_chart_is_printed_after_training(trained):
    _, stdout = trained
    chart = stdout[stdout.index("bits/char   * train (smoothed)   o validation"):]
    rows = chart.splitlines()[1:14]
    assert len(rows) == 13 and all(len(r) == 8 + 60 for r in rows)
    assert "*" in "".join(rows) and "o" in "".join(r[8:] for r in rows)


def test_predict_prints_the_softmax_of_the_model(trained):
    folder, _ = trained
    text = "Once upon a cat"
    result = cli(folder, "--predict", text)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = lines[1:lines.index(next(l for l in lines
                                    if l.startswith("average: ")))]
    assert len(rows) == len(text)                             # one per position
    model, vocab, _, _ = rnn.load_model(str(folder / "model.json"))
    state = model.zero_state()
    for t, row in enumerate(rows):
        state = model.step(vocab.index(text[t]), state)
        probs, _ = rnn.softmax(model.scores(state))
        shown = re.findall(r"('.'|\"'\") (\d\.\d{3})", row.split("|")[1])
        assert len(shown) == 3
        for char, p in shown:
            assert float(p) == pytest.approx(probs[vocab.index(eval(char))],
                                              abs=5e-4)       # printed to 3 places
    average = lines[len(rows) + 1]
    assert average.startswith("average: ")
    assert f"over {len(text) - 1} predictions" in average
    # the yardstick on the same text: the counting baseline's bits/char
    assert re.match(r"\d-gram \(Kneser–Ney\) on the same text: ", lines[-1])


def test_generate_prints_one_labelled_sample_per_temperature(trained):
    folder, _ = trained
    result = cli(folder, "--generate", "Once", "--temperature", "0.5,1.0,1.5",
                 "--sample-length", "20")
    assert result.returncode == 0, result.stderr
    labels = re.findall(r"^--- temperature (\S+) ", result.stdout, re.M)
    assert labels == ["0.5", "1.0", "1.5"]
    assert result.stdout.count("\nOnce") + result.stdout.startswith("Once") == 3


def test_history_survives_a_resume(trained, tmp_path):
    folder, _ = trained
    for name in ["data.txt", "model.json"]:
        shutil.copy(folder / name, tmp_path / name)
    first = history_of(tmp_path)
    result = cli(tmp_path, *TINY, "--max-iterations", "50", "--resume")
    assert result.returncode == 0, result.stderr
    history = history_of(tmp_path)
    assert history["train"][:len(first["train"])] == first["train"]
    assert [x for x, _ in history["train"]] == list(range(0, 55, 5))
    assert [x for x, _ in history["val"]] == [10, 20, 30, 40, 50]


# --- a corrupted but loadable model file ------------------------------------
# c[0], the output bias of vocab[0] ("\n"), at -1e308: every p("\n") is 0,
# so predicting a newline costs 1e308 nats, and two of them overflow to inf.
# Charts and views must still end in a result or one error line.

@pytest.fixture
def corrupted(trained, tmp_path):
    """tmp_path with data.txt and the trained model.json, its c[0] -1e308."""
    folder, _ = trained
    shutil.copy(folder / "data.txt", tmp_path / "data.txt")
    checkpoint = json.loads((folder / "model.json").read_text(
        encoding="utf-8"))
    assert checkpoint["vocab"][0] == "\n"
    checkpoint["params"]["c"][0] = -1e308
    write(tmp_path, "model.json", json.dumps(checkpoint))
    return tmp_path


def ends_cleanly(result):
    """Exit 0, or a user error: status 2 and one 'error:' line. (cli lets
    an exception through: a traceback fails the test before this.)"""
    if result.returncode != 0:
        assert_error(result)
    return result


@pytest.mark.parametrize("flags", [
    [],                        # diverges before its first checkpoint
    ["--sample-every", "1"],   # val 4e306 bits (1 newline): diverged
    ["--sample-every", "1", "--validation-fraction", "0.4"]])  # inf bits
def test_resuming_a_corrupted_model_ends_in_one_error(corrupted, flags):
    result = ends_cleanly(cli(corrupted, *TINY, "--max-iterations", "80",
                              *flags, "--resume"))
    if result.returncode != 0:
        assert_error(result, "training diverged at iteration")


def test_no_view_crashes_on_a_corrupted_model(corrupted):
    # each view loads the file, feeds it text with newlines and draws or
    # prints what it measures: an inf is a result, a traceback is not
    text = "The cat saw a rat.\nThe dog saw a cat.\n"
    write(corrupted, "mine.txt", text)
    shutil.copy(corrupted / "model.json", corrupted / "other.json")
    for args in [["--generate", "Once\nupon", "--temperature", "0,1"],
                 ["--predict", text], ["--evaluate", "mine.txt"],
                 ["--evaluate", "data.txt"],
                 ["--gradient-flow", text, "--flow-steps", "10"],
                 ["--activations", text],
                 ["--compare", "model.json", "other.json"]]:
        ends_cleanly(cli(corrupted, *args))
    assert "average: inf bits/char" in cli(corrupted, "--predict",
                                           text).stdout  # two newlines
    for chart in ["gradient_flow.svg", "gates.svg", "compare.svg"]:
        ET.parse(corrupted / chart)                     # raises if malformed


def test_every_output_bias_at_minus_1e308_samples_without_a_crash(corrupted):
    # all of c at -1e308: o/T would overflow to -inf, and -inf - -inf is
    # NaN; the scores are shifted by their max before the division
    checkpoint = json.loads((corrupted / "model.json").read_text(
        encoding="utf-8"))
    checkpoint["params"]["c"] = [-1e308] * len(checkpoint["params"]["c"])
    write(corrupted, "model.json", json.dumps(checkpoint))
    for temperature in ("0.5", "0", "1.5"):
        result = cli(corrupted, "--generate", "The", "--sample-length", "20",
                     "--temperature", temperature, "--top-k", "3")
        assert result.returncode == 0, result.stderr
        assert len(result.stdout) == len("The") + 20 + 1   # and a newline
