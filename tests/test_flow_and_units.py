"""Looking inside, part 2: --gradient-flow (how far back the gradient of
each next-character loss reaches) and --activations (single units)."""

import json
import math
import random
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, assert_error, write
from helpers import run_main as cli

SVG = "{http://www.w3.org/2000/svg}"
TEXT = STORY[:120]
CELLS = [rnn.RNN, rnn.GRU, rnn.LSTM]


def random_model(cls, seed=0):
    """vocab 4, hidden 5, every weight from N(0, 0.6²)."""
    model = cls(4, 5, seed=seed)
    rng = random.Random(seed + 1)
    for name in rnn.PARAM_NAMES:
        param = getattr(model, name)
        for row in (param if isinstance(param[0], list) else [param]):
            row[:] = [rng.gauss(0.0, 0.6) for _ in row]
    return model


def loss_from(model, state, ids, t, j):
    """ℓ_t = -log p(ids[t+1]), running ids[j+1..t] from state_j."""
    for x in ids[j + 1:t + 1]:
        state = model.step(x, state)
    o = model.scores(state)
    return rnn.softmax(o)[1] - o[ids[t + 1]]


@pytest.mark.parametrize("cls", CELLS)
def test_flow_norms_match_central_differences(cls):
    # ‖∂ℓ_t/∂h_{t-k}‖ for every t and k, against a 4th-order central
    # difference in each entry of h_{t-k} (an LSTM's s held fixed); the
    # estimate's own error is ~1e-10 here, far below the 1e-6 required
    model = random_model(cls, seed=3)
    rng = random.Random(4)
    ids, steps = [rng.randrange(4) for _ in range(11)], 4
    norms = rnn.flow_norms(model, ids, steps)
    assert len(norms) == len(ids) - steps and all(len(r) == steps
                                                  for r in norms)
    states, state = [], model.zero_state()
    for x in ids[:-1]:
        state = model.step(x, state)
        states.append(state)
    worst, eps = 0.0, 1e-3
    for row, t in zip(norms, range(steps - 1, len(ids) - 1)):
        for k in range(steps):
            j = t - k
            grad = []
            for i in range(5):
                f = {}
                for m in (-2, -1, 1, 2):
                    h = list(model.hidden(states[j]))
                    h[i] += m * eps
                    state = (h, states[j][1]) if cls is rnn.LSTM else h
                    f[m] = loss_from(model, state, ids, t, j)
                grad.append((8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * eps))
            numeric = math.sqrt(sum(g * g for g in grad))
            worst = max(worst, abs(row[k] - numeric) / numeric)
    print(f"{cls.__name__}: worst relative error {worst:.1e}")
    assert worst <= 1e-6, worst


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder with data.txt and a tiny trained model.json."""
    folder = tmp_path_factory.mktemp("inside")
    write(folder, "data.txt", STORY + "A cat <on> a mat & a rat.\n" * 3)
    result = cli(folder, *TINY, "--max-iterations", "40")
    assert result.returncode == 0, result.stderr
    return folder


def test_gradient_flow_table_has_k_rows_from_ratio_1(trained):
    result = cli(trained, "--gradient-flow", TEXT, "--flow-steps", "30")
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^\s*(\d+)\s+(\S+)\s+(\S+)$", result.stdout, re.M)
    assert [int(k) for k, _, _ in rows] == list(range(30))
    assert rows[0][2] == "1"                          # ratio at k = 0
    for _, mean, ratio in rows:
        assert float(ratio) == pytest.approx(float(mean) / float(rows[0][1]),
                                             rel=2e-3)   # 4 digits each
    assert "was never trained to use it" in result.stdout
    lines = result.stdout.splitlines()
    assert "positions" in lines[0]
    assert f"over {len(TEXT) - 30} positions" in result.stdout
    # 3 header lines, the 30 rows and where the chart went: no text chart
    assert len(lines) == 3 + 30 + 1 and lines[-1] == "chart: gradient_flow.svg"


def test_gradient_flow_svg_parses_and_points_lie_inside(trained):
    assert cli(trained, "--gradient-flow", TEXT,
               "--flow-steps", "20").returncode == 0
    root = ET.parse(trained / "gradient_flow.svg").getroot()
    axes = next(p.get("d") for p in root.iter(SVG + "path"))
    left, top, bottom, right = map(float, re.findall(r"[\d.]+", axes))
    lines = list(root.iter(SVG + "polyline"))
    assert len(lines) == 1
    points = lines[0].get("points").split()
    assert len(points) == 20
    for point in points:
        x, y = map(float, point.split(","))
        assert left <= x <= right and top <= y <= bottom, point
    texts = " ".join(t.text for t in root.iter(SVG + "text"))
    assert "steps back" in texts and "log scale" in texts


def test_gradient_flow_text_too_short_or_unknown(trained):
    assert_error(cli(trained, "--gradient-flow", "Once upon", "--flow-steps",
                     "10"), "--gradient-flow", "at least 12 characters", "it has 9")
    assert_error(cli(trained, "--gradient-flow", "Quiz" * 20), "'Q'", "'z'")


class Rows(HTMLParser):
    """Collects every row div: its attributes, and the data-v, text and
    title of each character span in it."""

    def __init__(self):
        super().__init__()
        self.all, self.span = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and attrs.get("class") == "row":
            self.all.append((attrs, []))
        elif tag == "span" and "data-v" in attrs:
            self.span = [float(attrs["data-v"]), "", attrs["title"]]
            self.all[-1][1].append(self.span)

    def handle_endtag(self, tag):
        self.span = None if tag == "span" else self.span

    def handle_data(self, data):
        if self.span is not None:
            self.span[1] += data

    @property
    def rows(self):
        """{(trace, unit): spans} of the units shown: the unit rows that
        are not a property's best unit (the row right after it)."""
        shown, after_property = {}, False
        for attrs, spans in self.all:
            if "data-unit" in attrs and not after_property:
                shown[attrs["data-trace"], int(attrs["data-unit"])] = spans
            after_property = "data-property" in attrs
        return shown


def test_activations_page_holds_the_text_and_the_hidden_states(trained):
    text = "Once upon a time a cat\nsat <on> a & mat."
    result = cli(trained, "--activations", text, "--units", "3,0,7")
    assert result.returncode == 0, result.stderr
    page = (trained / "activations.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http" not in page.replace(
        "http://www.w3.org", "")                       # self-contained
    parser = Rows()
    parser.feed(page)
    assert list(parser.rows) == [("h", 3), ("h", 0), ("h", 7)]
    model, vocab, _, _ = rnn.load_model(str(trained / "model.json"))
    hs, state = [], model.zero_state()
    for ch in text:
        state = model.step(vocab.index(ch), state)
        hs.append(state)
    for (_, unit), spans in parser.rows.items():
        assert "".join(s[1] for s in spans) == text      # every char, in order
        assert [s[0] for s in spans] == [h[unit] for h in hs]   # exact repr
        assert spans[0][2].startswith(f"h {unit}: ")
        assert spans[0][2].count("'") >= 6               # top 3 guesses
    lines = result.stdout.splitlines()
    assert lines[0].endswith("activations.html")
    assert [l.split(":")[0] for l in lines if l.startswith("h ")] == [
        "h 3", "h 0", "h 7"]


def test_activations_default_units_change_slowly(trained):
    result = cli(trained, "--activations", TEXT)
    assert result.returncode == 0, result.stderr
    shown = [int(l.split()[1].rstrip(":")) for l in result.stdout.splitlines()
             if l.startswith("h ")]
    assert len(shown) == 8 and len(set(shown)) == 8     # hidden 8: all of them
    model, vocab, _, _ = rnn.load_model(str(trained / "model.json"))
    traces, _, _ = rnn.trace(model, rnn.encode(TEXT, vocab))
    hs = traces["h"]
    keys = [rnn.slowness([h[u] for h in hs]) for u in shown]
    assert keys == sorted(keys, reverse=True)           # slowest first
    printed = re.findall(r"with the next ([-+]\d\.\d\d)$", result.stdout,
                         re.M)
    assert len(printed) == 8                            # one per unit shown
    for u, (wide, step_r), shown_r in zip(shown, keys, printed):
        values = [h[u] for h in hs]
        assert wide == (max(values) - min(values) >= rnn.SLOW_RANGE)
        n = len(values) - 1                              # consecutive pairs
        x, y = values[:-1], values[1:]
        mx, my = sum(x) / n, sum(y) / n
        cov = sum((a - mx) * (b - my) for a, b in zip(x, y))
        r = cov / math.sqrt(sum((a - mx) ** 2 for a in x)
                            * sum((b - my) ** 2 for b in y))
        assert step_r == pytest.approx(r, abs=1e-9)     # rounding only
        assert float(shown_r) == pytest.approx(r, abs=0.005)  # 2 places


@pytest.mark.parametrize("units", ["8", "-1", "a,b", "1,1", "", "1,,2"])
def test_bad_units(trained, units):
    assert_error(cli(trained, "--activations", "Once", "--units", units),
                 "--units", "0 to 7")


def test_activations_with_unknown_characters(trained):
    assert_error(cli(trained, "--activations", "Zebra!"), "--activations",
                 "'Z'", "'!'")


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """{cell: a folder with data.txt and a tiny trained model.json} for
    the gru and the lstm."""
    folders = {}
    for cell in ["gru", "lstm"]:
        folder = tmp_path_factory.mktemp(cell)
        write(folder, "data.txt", STORY)
        result = cli(folder, *TINY, "--cell", cell)
        assert result.returncode == 0, result.stderr
        folders[cell] = folder
    return folders


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_both_views_work_for_gated_cells(gated, cell):
    folder = gated[cell]
    flow = cli(folder, "--gradient-flow", TEXT, "--flow-steps", "10")
    assert flow.returncode == 0, flow.stderr
    units = cli(folder, "--activations", TEXT, "--units", "1")
    assert units.returncode == 0, units.stderr
    with open(folder / "model.json", encoding="utf-8") as f:
        assert json.load(f)["cell"] == cell


@pytest.mark.parametrize("flag, value, mode", [
    ("--units", "3", "--activations"), ("--flow-steps", "5", "--gradient-flow")])
def test_a_view_flag_without_its_view_trains_nothing(tmp_path, flag, value,
                                                     mode):
    # forgetting --activations must not quietly train over the model
    assert_error(cli(tmp_path, flag, value), flag, f"goes with {mode} TEXT")
    assert list(tmp_path.iterdir()) == []


def test_units_can_name_an_lstm_cell_state(gated):
    # the finder may name "s 5"; --units s5 shows that very row
    folder = gated["lstm"]
    result = cli(folder, "--activations", TEXT, "--units", "s5,h5,2")
    assert result.returncode == 0, result.stderr
    shown = [line.split(":")[0] for line in result.stdout.splitlines()
             if line[:2] in ("h ", "s ")]
    assert shown == ["s 5", "h 5", "h 2"]
    page = (folder / "activations.html").read_text(encoding="utf-8")
    parser = Rows()
    parser.feed(page)
    assert list(parser.rows) == [("s", 5), ("h", 5), ("h", 2)]
    model, vocab, _, _ = rnn.load_model(str(folder / "model.json"))
    traces, _, _ = rnn.trace(model, rnn.encode(TEXT, vocab))
    assert [s[0] for s in parser.rows["s", 5]] == [
        s[5] for s in traces["s"]]                       # exact repr


def test_an_rnn_has_no_cell_state_to_show(trained):
    assert_error(cli(trained, "--activations", "Once", "--units", "s1"),
                 "--units", "0 to 7", "'s1'")


def test_gradient_flow_with_compare_draws_a_line_per_model(trained, gated,
                                                            tmp_path):
    # one table with a column per model, each column the single-model
    # run's mean norms exactly, and one chart beside the first model with
    # a line per model, named by its file and cell
    shutil.copy(trained / "model.json", tmp_path / "rnn.json")
    paths = ["rnn.json", str(gated["gru"] / "model.json"),
             str(gated["lstm"] / "model.json")]
    flow, alone = ["--gradient-flow", TEXT, "--flow-steps", "10"], []
    for path in paths:
        result = cli(tmp_path, *flow, "--model", path)
        assert result.returncode == 0, result.stderr
        alone.append([line.split()[1] for line in
                      result.stdout.splitlines()[3:13]])
    result = cli(tmp_path, *flow, "--compare", *paths)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[4].split() == ["k"] + paths
    assert [line.split()[0] for line in lines[1:4]] == ["note:"] * 3
    rows = [line.split() for line in lines[5:15]]
    assert [row[0] for row in rows] == [str(k) for k in range(10)]
    assert [list(column) for column in zip(*rows)][1:] == alone
    assert lines[15] == "chart: rnn.gradient_flow.svg"
    root = ET.parse(tmp_path / "rnn.gradient_flow.svg").getroot()
    lines = list(root.iter(SVG + "polyline"))
    assert [line.get("class") for line in lines] == ["flow0", "flow1",
                                                     "flow2"]
    assert all(len(line.get("points").split()) == 10 for line in lines)
    texts = [t.text for t in root.iter(SVG + "text")]
    for path, cell in zip(paths, ["rnn", "gru", "lstm"]):
        assert f"{path} ({cell}, hidden 8)" in texts


@pytest.mark.parametrize("views", [
    ["--generate", "Once", "--compare", "a.json", "b.json"],
    ["--predict", "Once", "--gradient-flow", "Once upon a time"],
    ["--activations", "Once", "--evaluate", "data.txt"]])
def test_two_views_that_do_not_go_together(tmp_path, views):
    # only --gradient-flow takes --compare's models; any other pair is one
    # error line naming both, before any file is read or written
    assert_error(cli(tmp_path, *views), views[0], views[2],
                 "do not go together")
    assert list(tmp_path.iterdir()) == []


def test_help_says_gradient_flow_takes_compare(tmp_path):
    # --help's words, with argparse's line breaks undone
    result = cli(tmp_path, "--help")
    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    assert "load --model (or each model of --compare)" in help_text
    assert "with --gradient-flow, their gradient flow on one chart" in help_text
