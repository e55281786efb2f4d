"""Looking inside, part 3: the property finder of --activations (which
unit follows which property of the text) and how the gates saturate."""

import json
import math
import random
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib

import pytest

import rnn_from_scratch as rnn
from helpers import write
from test_flow_and_units import Rows, cli

SVG = "{http://www.w3.org/2000/svg}"
VOCAB = ["\n", " ", '"', "(", ")", ".", "a", "b"]
TEXT = ('ab (a "b) a." ba\n  a (b (a)) "ab"\n'
        'b a. (ab "a b" a)\nab\n  ba. "b (a) b"\n')


def test_properties_of_a_hand_checked_string():
    text = 'a "b(c\n  d)e. f'
    p = rnn.text_properties(text)
    assert list(p) == [name for name, _ in rnn.PROPERTIES]
    #                  a  ␣  "  b  (  c  ↵  ␣  ␣  d  )  e  .  ␣  f
    assert p["quote"] == [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert p["bracket"] == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert p["depth"] == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert p["column"] == [1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert p["indent"] == [0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2]
    assert p["word"] == [1, 0, 1, 2, 3, 4, 0, 0, 0, 1, 2, 3, 4, 0, 1]
    assert p["sentence"] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 1, 2]
    assert p["squote"] == [0] * 15                  # no ' in the text


def test_quotes_brackets_and_indents_nest_and_close():
    p = rnn.text_properties("""x='it''s' [(a]) )( ""\n    y\n z""")
    assert p["squote"][:9] == [0, 0, 1, 1, 1, 0, 1, 1, 0]  # x = ' i t ' ' s '
    assert p["depth"][10:20] == [1, 2, 2, 1, 0, 0, -1, 0, 0, 0]
    assert p["bracket"][10:20] == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert p["quote"][19:21] == [1, 0]                     # "" opens, closes
    assert p["indent"][21:] == [0, 1, 2, 3, 4, 4, 0, 1, 1]  # ↵ 4 spaces y ↵ z


def test_pearson_against_the_textbook_formula():
    rng = random.Random(3)
    xs = [rng.gauss(0, 1) for _ in range(50)]
    ys = [x + rng.gauss(0, 2) for x in xs]
    n = len(xs)
    sx, sy = sum(xs), sum(ys)
    sxy = sum(x * y for x, y in zip(xs, ys))
    sxx, syy = sum(x * x for x in xs), sum(y * y for y in ys)
    r = (n * sxy - sx * sy) / math.sqrt((n * sxx - sx ** 2)
                                        * (n * syy - sy ** 2))
    assert 0.2 < r < 0.8                                  # a middling r
    assert rnn.pearson(xs, ys) == pytest.approx(r, abs=1e-12)  # rounding
    assert rnn.pearson(xs, [3 - 2 * x for x in xs]) == pytest.approx(
        -1.0, abs=1e-12)                                  # exactly linear
    assert rnn.pearson(xs, [0.1] * n) is None             # constant
    assert rnn.pearson([1, 1, 1], [1, 2, 3]) is None


def space_and_bracket_rnn():
    """A vanilla RNN over VOCAB with hidden 3, wired by hand: unit 0 is
    +0.9 after a space and -0.9 after anything else; unit 1 latches, +1
    after ( and -1 after ); unit 2 is always 0."""
    model = rnn.RNN(len(VOCAB), 3, seed=0)
    for param in (model.U, model.W):
        for row in param:
            row[:] = [0.0] * len(row)
    model.b = [0.0, -0.5, 0.0]                       # unit 1 drifts to -1
    model.U[0] = [-math.atanh(0.9)] * len(VOCAB)
    model.U[0][VOCAB.index(" ")] = math.atanh(0.9)
    model.W[1][1] = 3.0                              # unit 1 keeps its sign
    model.U[1][VOCAB.index("(")] = 10.0
    model.U[1][VOCAB.index(")")] = -10.0
    return model


def test_a_hand_wired_unit_is_found():
    model = space_and_bracket_rnn()
    traces, gates, _ = rnn.trace(model, rnn.encode(TEXT, VOCAB))
    assert list(traces) == ["h"] and gates == {}     # no s, no gates
    hs = traces["h"]
    p = rnn.text_properties(TEXT)
    found = rnn.best_units(p, traces)
    space = [float(ch == " ") for ch in TEXT]
    assert rnn.pearson([h[0] for h in hs], space) == pytest.approx(
        1.0, abs=1e-9)                       # unit 0 is "just read a space"
    trace, unit, r = found["bracket"]
    assert (trace, unit) == ("h", 1) and r > 0.95    # the latch
    assert r == rnn.pearson([h[1] for h in hs], p["bracket"])
    assert found["word"][:2] == ("h", 0) and found["word"][2] < -0.5
    assert all(f[1] != 2 for f in found.values() if f)  # constant: skipped
    assert found["squote"] is None                   # no ' in TEXT


def line_counting_lstm():
    """An LSTM over VOCAB with hidden 2, wired by hand: i, o near 1; f near
    1 except on a newline, where it is near 0; g = tanh(0.1) except on a
    newline. So s of unit 0 is 0.0997 times the column. Unit 1's input
    gate is 0.5 everywhere."""
    model = rnn.LSTM(len(VOCAB), 2, seed=0)
    H = 2
    for param in (model.U, model.W):
        for row in param:
            row[:] = [0.0] * len(row)
    model.b = [20.0, 0.0,  20.0, 20.0,  0.0, 0.0,  20.0, 20.0]  # i f g o
    for u in range(H):
        model.U[H + u][VOCAB.index("\n")] = -40.0    # forget on a newline
        model.U[2 * H + u] = [0.1] * len(VOCAB)      # g: count by 0.1
        model.U[2 * H + u][VOCAB.index("\n")] = 0.0
    return model


def test_a_counting_cell_state_is_found_in_s():
    model = line_counting_lstm()
    ids = rnn.encode(TEXT, VOCAB)
    traces, gates, _ = rnn.trace(model, ids)
    assert list(traces) == ["h", "s"] and list(gates) == ["i", "f", "o"]
    ss = traces["s"]
    found = rnn.best_units(rnn.text_properties(TEXT), traces)
    trace, unit, r = found["column"]
    assert trace == "s" and r > 0.999                # s counts the column
    assert ss[5][0] == pytest.approx(6 * math.tanh(0.1), rel=1e-6)


def test_gates_are_read_from_the_cache():
    # exact: trace reads the very numbers step_forward computed
    model = line_counting_lstm()
    ids = rnn.encode(TEXT, VOCAB)
    traces, gates, probs = rnn.trace(model, ids)
    state = model.zero_state()
    for t, x in enumerate(ids):
        h, s = state
        pre = [U_row[x] + b + rnn.dot(W_row, h)
               for U_row, W_row, b in zip(model.U, model.W, model.b)]
        state = model.step(x, state)
        assert gates["i"][t] == [rnn.sigmoid(v) for v in pre[:2]]
        assert gates["f"][t] == [rnn.sigmoid(v) for v in pre[2:4]]
        assert gates["o"][t] == [rnn.sigmoid(v) for v in pre[6:]]
        assert [traces["h"][t], traces["s"][t]] == state
        assert probs[t] == rnn.softmax(model.scores(state))[0]


def test_saturation_of_hand_built_gates():
    model = line_counting_lstm()
    _, gates, _ = rnn.trace(model, rnn.encode(TEXT, VOCAB))
    newlines = TEXT.count("\n") / len(TEXT)
    i = rnn.saturation(gates["i"], 0.1, 0.9)
    f = rnn.saturation(gates["f"], 0.1, 0.9)
    assert i == [(0.0, 1.0), (0.0, 0.0)]             # σ(20); σ(0) = 0.5
    assert f == [(newlines, 1 - newlines)] * 2       # σ(-20) on a newline
    assert rnn.saturation_summary(i + f) == (
        "3 mostly right-saturated, 0 mostly left-saturated, "
        "1 mostly in between, 0 none of these")
    assert rnn.saturation_summary([(0.5, 0.5), (0.3, 0.3)]) == (
        "0 mostly right-saturated, 0 mostly left-saturated, "
        "0 mostly in between, 2 none of these")      # exactly half: not most


def test_gru_gates():
    model = rnn.GRU(len(VOCAB), 2, seed=0)
    for param in (model.U, model.W):
        for row in param:
            row[:] = [0.0] * len(row)
    model.b = [0.0, 0.0, -5.0, 5.0, 0.0, 0.0]        # r, z, n blocks
    ids = rnn.encode(TEXT, VOCAB)
    traces, gates, _ = rnn.trace(model, ids)
    assert list(traces) == ["h"] and list(gates) == ["r", "z"]
    assert rnn.saturation(gates["r"], 0.1, 0.9) == [(0.0, 0.0)] * 2
    assert rnn.saturation(gates["z"], 0.1, 0.9) == [(1.0, 0.0), (0.0, 1.0)]


def save(folder, model):
    """model.json for a hand-built model over VOCAB."""
    path = str(folder / "model.json")
    run = rnn.Run(model, len(VOCAB))
    write(folder, "model.json", json.dumps(rnn.checkpoint_of(
        model, VOCAB, {"sequence_length": 25}, run)))
    return path


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """activations.html and gates.svg of the hand-wired LSTM and RNN, and
    what --activations printed for each."""
    out = {}
    for name, model in [("lstm", line_counting_lstm()),
                        ("rnn", space_and_bracket_rnn())]:
        folder = tmp_path_factory.mktemp(name)
        path = save(folder, model)
        result = cli(folder, "--model", path, "--activations", TEXT)
        assert result.returncode == 0, result.stderr
        out[name] = folder, result.stdout
    return out


def test_finder_rows_are_printed(pages):
    _, stdout = pages["lstm"]
    rows = {line.split()[0]: line.split()[1:4]
            for line in stdout.splitlines()
            if line.split() and line.split()[0] in dict(rnn.PROPERTIES)}
    assert list(rows) == [name for name, _ in rnn.PROPERTIES]
    assert rows["squote"][:2] == ["-", "-"]          # no ' in TEXT
    assert rows["column"][:2] == ["s", "0"]
    assert float(rows["column"][2]) > 0.99
    gates = [line.split(": ", 1) for line in stdout.splitlines()
             if "gate)" in line]
    assert gates == [
        ["  i (input gate)", "1 mostly right-saturated, 0 mostly "
         "left-saturated, 1 mostly in between, 0 none of these"],
        ["  f (forget gate)", "2 mostly right-saturated, 0 mostly "
         "left-saturated, 0 mostly in between, 0 none of these"],
        ["  o (output gate)", "2 mostly right-saturated, 0 mostly "
         "left-saturated, 0 mostly in between, 0 none of these"]]
    assert f"notice: the text has only {len(TEXT)} characters" in stdout
    _, stdout = pages["rnn"]
    assert "no gates in the rnn; instead, |h| > 0.9 at" in stdout
    bracket = next(l for l in stdout.splitlines() if l.startswith("bracket"))
    assert bracket.split()[1:3] == ["h", "1"]


def test_page_shows_each_property_above_its_best_unit(pages):
    folder, _ = pages["lstm"]
    page = (folder / "activations.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http" not in page   # self-contained
    parser = Rows()
    parser.feed(page)
    model = line_counting_lstm()
    traces, _, _ = rnn.trace(model, rnn.encode(TEXT, VOCAB))
    p = rnn.text_properties(TEXT)
    found = rnn.best_units(p, traces)
    shown = [name for name, _ in rnn.PROPERTIES if found[name]]
    pairs = parser.all[:2 * len(shown)]
    assert [a.get("data-property") for a, _ in pairs[::2]] == shown
    for (prop, prop_spans), (unit, unit_spans) in zip(pairs[::2],
                                                      pairs[1::2]):
        name = prop["data-property"]
        trace, u, _ = found[name]
        assert [s[0] for s in prop_spans] == p[name]
        assert (unit["data-trace"], int(unit["data-unit"])) == (trace, u)
        values = traces[trace]
        assert [s[0] for s in unit_spans] == [v[u] for v in values]
        assert "".join(s[1] for s in unit_spans) == TEXT
    assert len(parser.rows) == 2                  # then the slow units
    column = next(spans for a, spans in parser.all
                  if a.get("data-trace") == "s")
    assert max(v for v, _, _ in column) > 1.5     # s counts past 1
    for a, spans in parser.all:                   # readable on every shade
        for (v, _, _), style in zip(spans, styles(page, a)):
            assert style == rnn.unit_style(v / row_scale(a, spans))


def styles(page, attrs):
    """The style of each span in the row div with these attributes."""
    key = " ".join(f'{k}="{v}"' for k, v in attrs.items()) + ">"
    row = page[page.index(key):]
    row = row[:row.index("</div>")]
    return [chunk.split('"')[0] for chunk in row.split('style="')[1:]]


def row_scale(attrs, spans):
    """What the page divides a row's values by before choosing a colour:
    the row's largest size if beyond 1 (a property, an s); else 1 (h,
    which tanh keeps within it)."""
    return max(1.0, *(abs(v) for v, _, _ in spans))


def contrast_with_black(style):
    """WCAG contrast ratio of black text on the style's rgb background."""
    def linear(channel):
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    assert style.endswith(";color:black"), style
    r, g, b = map(int, re.match(r"background:rgb\((\d+),(\d+),(\d+)\)",
                                style).groups())
    luminance = (0.2126 * linear(r) + 0.7152 * linear(g)
                 + 0.0722 * linear(b))
    return (luminance + 0.05) / 0.05


def test_unit_style_keeps_black_text_readable():
    # every shade from -1.5 to +1.5 by 0.05: black text at WCAG's 4.5:1 or
    # more (the darkest, -1, is 4.9:1); 0 is white; beyond ±1 is clipped
    for k in range(-30, 31):
        assert contrast_with_black(rnn.unit_style(k / 20)) >= 4.5, k / 20
    assert rnn.unit_style(0.0) == "background:rgb(255,255,255);color:black"
    assert rnn.unit_style(-1.0) == "background:rgb(102,102,255);color:black"
    assert rnn.unit_style(1.0) == rnn.unit_style(7.0)


def gate_dots(root):
    """{class: [(left, right) of each dot]} of gates.svg, read back from its
    pixels through the "limit" line, which runs from (0, 1) to (1, 0)."""
    limit = next(line for line in root.iter(SVG + "polyline")
                 if line.get("class") == "limit")
    (x0, y1), (x1, y0) = [map(float, point.split(","))
                          for point in limit.get("points").split()]
    dots = {}
    for dot in root.iter(SVG + "circle"):
        cx, cy = float(dot.get("cx")), float(dot.get("cy"))
        dots.setdefault(dot.get("class"), []).append(
            ((cx - x0) / (x1 - x0), (cy - y0) / (y1 - y0)))
    return dots


def test_gates_svg_has_a_dot_per_unit_per_gate(pages):
    # 1e-3: cx and cy are printed to 0.1 px on axes 310 px long or more,
    # which errs by 2e-4 or less in each fraction
    for name, gates, units in [("lstm", ["i (input gate)", "f (forget gate)",
                                         "o (output gate)"], 2),
                               ("rnn", ["h (tanh)"], 3)]:
        folder, _ = pages[name]
        root = ET.parse(folder / "gates.svg").getroot()  # raises if malformed
        texts = [t.text for t in root.iter(SVG + "text")]
        assert [t for t in texts if t in gates] == gates  # the legend
        assert "left + right = 1" in texts
        dots = gate_dots(root)
        assert list(dots) == [f"gate{k}" for k in range(len(gates))]
        assert all(len(d) == units for d in dots.values())  # one per unit
        axes = next(p.get("d") for p in root.iter(SVG + "path"))
        left, top, bottom, right = map(float, re.findall(r"[\d.]+", axes))
        for dot in root.iter(SVG + "circle"):            # inside the plot
            assert left <= float(dot.get("cx")) <= right
            assert top <= float(dot.get("cy")) <= bottom
        for lo, hi in sum(dots.values(), []):            # on or below it
            assert lo >= -1e-3 and hi >= -1e-3 and lo + hi <= 1 + 1e-3
        title = texts[0]
        assert title.endswith("no gates)" if name == "rnn" else "saturate")
        assert float(root.get("width")) >= 8 * len(title)   # not clipped
    root = ET.parse(pages["lstm"][0] / "gates.svg").getroot()
    newlines = TEXT.count("\n") / len(TEXT)             # f is near 0 there
    for lo, hi in gate_dots(root)["gate1"]:
        assert lo == pytest.approx(newlines, abs=1e-3)
        assert hi == pytest.approx(1 - newlines, abs=1e-3)


def png_pixels(path):
    """(width, height, rows of (r, g, b) pixels) of an 8-bit RGB or RGBA
    PNG without interlacing, as Chromium writes it."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = {}, 8
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        chunks[kind] = chunks.get(kind, b"") + data[at + 8:at + 8 + size]
        at += 12 + size
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and color in (2, 6)
    step = 3 if color == 2 else 4
    raw, rows, prev = zlib.decompress(chunks[b"IDAT"]), [], bytes(width * step)
    for y in range(height):
        line = raw[y * (width * step + 1):(y + 1) * (width * step + 1)]
        kind, line, out = line[0], line[1:], bytearray()
        for i, v in enumerate(line):
            a = out[i - step] if i >= step else 0
            b, c = prev[i], prev[i - step] if i >= step else 0
            if kind == 4:                               # Paeth
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            else:
                pred = [0, a, b, (a + b) // 2][kind]
            out.append((v + pred) & 255)
        prev = bytes(out)
        rows.append([tuple(out[i:i + 3]) for i in range(0, len(out), step)])
    return width, height, rows


def composite(fills, under=(255, 255, 255)):
    """The colour of fills (hex, each at fill-opacity 0.7) drawn in turn
    over the colour under."""
    for fill in fills:
        under = tuple(0.7 * int(fill[k:k + 2], 16) + 0.3 * u
                      for k, u in zip((1, 3, 5), under))
    return under


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="needs chromium to look at the pictures")
def test_chromium_draws_the_dots_and_the_page(pages, tmp_path):
    folder, _ = pages["lstm"]
    both = folder / "both.html"                  # one Chromium start, not two
    both.write_text('<body style="margin:0"><img src="gates.svg" '
                    'style="display:block;width:720px;height:420px">'
                    '<iframe src="activations.html" style="display:block;'
                    'border:0;width:720px;height:780px"></iframe></body>')
    png = tmp_path / "both.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--no-first-run", "--disable-background-networking",
                    f"--user-data-dir={tmp_path / 'profile'}",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    f"--screenshot={png}", "--window-size=720,1200",
                    both.as_uri()], capture_output=True, timeout=60)
    width, height, rows = png_pixels(png)
    assert (width, height) == (720, 1200)
    # every dot, drawn at its own size (720×420): near its centre, off the
    # lines, a pixel of the colour of the dots stacked there over white;
    # 9: 8-bit rounding, about 1 a channel at each of up to 3 layers
    circles = list(ET.parse(folder / "gates.svg").getroot().iter(
        SVG + "circle"))
    for dot in circles:
        cx, cy = float(dot.get("cx")), float(dot.get("cy"))
        want = composite([c.get("fill") for c in circles
                          if (c.get("cx"), c.get("cy")) ==
                          (dot.get("cx"), dot.get("cy"))])
        near = [rows[y][x] for y in range(int(cy) - 3, int(cy) + 3)
                for x in range(int(cx) - 3, int(cx) + 3)
                if (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= 1.9 ** 2]
        assert min(sum(abs(a - b) for a, b in zip(px, want))
                   for px in near) <= 9, (dot.get("class"), cx, cy, want)
    page = {px for row in rows[420:] for px in row}
    assert (255, 102, 102) in page               # a property strip at 1
    assert (255, 255, 255) in page               # ... and at 0


def test_no_notice_on_a_long_enough_text(capsys):
    found = dict.fromkeys(dict(rnn.PROPERTIES))
    rnn.print_found(found, rnn.SHORT_TEXT)
    out = capsys.readouterr().out
    assert "notice" not in out and out.count("(constant here)") == 8


def test_a_unit_best_for_two_properties_is_noted(capsys):
    # the same unit winning column and sentence may follow what they share
    found = {name: None for name, _ in rnn.PROPERTIES}
    found.update(column=("s", 51, 0.27), sentence=("s", 51, 0.59),
                 word=("h", 62, 0.71))
    rnn.print_found(found, 5000)
    notes = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("note:")]
    assert notes == ["note: s 51 is the best unit for column and sentence: "
                     "it may follow what they share, not each of them"]
