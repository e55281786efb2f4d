"""The loss chart (SVG and text), --predict and multi-temperature sampling."""

import json
import re
import xml.etree.ElementTree as ET

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, run, write

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder with data.txt, and the output of training a tiny model."""
    folder = tmp_path_factory.mktemp("trained")
    write(folder, "data.txt", STORY)
    result = run(folder, *TINY, "--max-iterations", "40")
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
    result = run(folder, "--predict", text)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[1:-1]
    assert len(rows) == len(text)                             # one per position
    model, vocab, _ = rnn.load_model(str(folder / "model.json"))
    h = [0.0] * len(model.b)
    for t, row in enumerate(rows):
        h = model.step(vocab.index(text[t]), h)
        probs, _ = rnn.softmax(model.scores(h))
        shown = re.findall(r"('.'|\"'\") (\d\.\d{3})", row.split("|")[1])
        assert len(shown) == 3
        for char, p in shown:
            assert float(p) == pytest.approx(probs[vocab.index(eval(char))],
                                              abs=5e-4)       # printed to 3 places
    assert result.stdout.splitlines()[-1].startswith("average: ")
    assert f"over {len(text) - 1} predictions" in result.stdout


def test_generate_prints_one_labelled_sample_per_temperature(trained):
    folder, _ = trained
    result = run(folder, "--generate", "Once", "--temperature", "0.5,1.0,1.5",
                 "--sample-length", "20")
    assert result.returncode == 0, result.stderr
    labels = re.findall(r"^--- temperature (\S+) ", result.stdout, re.M)
    assert labels == ["0.5", "1.0", "1.5"]
    assert result.stdout.count("\nOnce") + result.stdout.startswith("Once") == 3


def test_history_survives_a_resume(tmp_path):
    write(tmp_path, "data.txt", STORY)
    assert run(tmp_path, *TINY).returncode == 0
    first = history_of(tmp_path)
    assert run(tmp_path, *TINY, "--max-iterations", "30", "--resume").returncode == 0
    history = history_of(tmp_path)
    assert history["train"][:len(first["train"])] == first["train"]
    assert [x for x, _ in history["train"]] == [0, 5, 10, 15, 20, 25, 30]
    assert [x for x, _ in history["val"]] == [10, 20, 30]
