"""Measuring: --evaluate, the Kneser-Ney baseline, the copy check and
--compare."""

import json
import math
import os
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, assert_error, write
from helpers import run_main as cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder with data.txt and model.json trained in-process (20 steps)
    on it, by those relative names; (folder, the training run's stdout).
    Tests that change the folder work on a copy."""
    folder = tmp_path_factory.mktemp("measuring")
    write(folder, "data.txt", STORY)
    result = cli(folder, *TINY)
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


def direct_bits(model, ids):
    """-log2 p of ids[1:], from zero, with an unshifted softmax."""
    h, total = model.zero_state(), 0.0
    for x, y in zip(ids, ids[1:]):
        h = model.step(x, h)
        o = model.scores(h)
        total -= math.log2(math.exp(o[y]) / sum(math.exp(v) for v in o))
    return total / (len(ids) - 1)


# --- --evaluate --------------------------------------------------------------

def test_evaluate_equals_a_direct_computation(trained, tmp_path):
    # 1e-9: the two differ only in rounding (shifted log-sum-exp vs plain)
    folder, _ = trained
    text = "The dog saw a rat. Once upon a time a cat ran to the sea.\n"
    path = write(tmp_path, "mine.txt", text)
    model_path = str(folder / "model.json")
    model, vocab, _, _ = rnn.load_model(model_path)
    expected = direct_bits(model, rnn.encode(text, vocab))
    logs = rnn.log_probs(model, rnn.encode(text, vocab))
    assert abs(-sum(logs) / len(logs) / math.log(2) - expected) < 1e-9
    result = cli(folder, "--model", model_path, "--evaluate", path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{path}: {expected:#.4g} bits/char over "
                               f"{len(text) - 1} predictions")
    assert "-gram (Kneser–Ney) on the same text" in lines[1]
    assert lines[2].startswith("bits/char by kind of position")
    assert lines[-1] == f"wrote {folder / 'evaluate.html'}"
    assert not any("closing" in line for line in lines)   # no quotes here


def test_evaluate_skips_unknown_characters_in_both_scores(trained, tmp_path):
    # a perplexity tool's rule: name the out-of-vocabulary characters and
    # how many, and score the rest, the network and the n-gram alike
    folder, _ = trained
    model = str(folder / "model.json")
    write(tmp_path, "odd.txt", "The cat saw a Zorro!! The cat sat.")
    result = cli(tmp_path, "--model", model, "--evaluate", "odd.txt")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("notice: skipped 3 characters of odd.txt")
    assert "'!' ×2, 'Z' ×1" in lines[0]
    kept = "The cat saw a orro The cat sat."
    model_, vocab, _, _ = rnn.load_model(model)
    bits = rnn.evaluate(model_, rnn.encode(kept, vocab))
    assert lines[1].startswith(f"odd.txt: {bits:#.4g} bits/char over "
                               f"{len(kept) - 1} predictions")   # 4 digits
    write(tmp_path, "alien.txt", "ZZZ!!!")
    assert_error(cli(tmp_path, "--model", model, "--evaluate", "alien.txt"),
                 "alien.txt", "fewer than 2 characters")


def test_evaluate_names_missing_files(trained, tmp_path):
    folder, _ = trained
    model = str(folder / "model.json")
    assert_error(cli(tmp_path, "--model", model, "--evaluate", "nope.txt"),
                 "nope.txt", "not found")
    write(tmp_path, "one.txt", "O")
    assert_error(cli(tmp_path, "--model", model, "--evaluate", "one.txt"),
                 "--evaluate file one.txt has only 1 character")


def test_evaluate_on_the_training_text_says_it_measures_memory(trained):
    # --evaluate data.txt scores what the model (and the n-gram) trained on
    folder, _ = trained
    result = cli(folder, "--evaluate", "data.txt")
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines()
             if line.startswith("notice:")]
    assert len(notes) == 1 and "measure memory, not prediction" in notes[0]


def test_evaluate_without_the_data_file_says_so(trained, tmp_path):
    # the model names data.txt, which is neither here nor beside it
    folder, _ = trained
    shutil.copy(folder / "model.json", tmp_path / "model.json")
    write(tmp_path, "mine.txt", "Once upon a time a cat sat.")
    result = cli(tmp_path, "--evaluate", "mine.txt")
    assert result.returncode == 0, result.stderr
    assert "notice: no n-gram comparison" in result.stdout
    assert "data.txt was not found" in result.stdout
    assert result.stdout.splitlines()[-1] == (
        "notice: hence no tables by kind and no evaluate.html")
    assert not (tmp_path / "evaluate.html").exists()


# --- where the network wins and loses ---------------------------------------

QUOTED = ('Once (upon [a] time) a "cat" sat; it\'s a cat\'s mat.\n'
          "The dog said 'a rat' (to the sea).\n") * 4


@pytest.fixture(scope="module")
def quoted(tmp_path_factory):
    """A folder with quoted.txt, a text with brackets and quotes, and
    model.json trained on it in-process (20 steps)."""
    folder = tmp_path_factory.mktemp("quoted")
    write(folder, "quoted.txt", QUOTED)
    result = cli(folder, *TINY, "--data", "quoted.txt")
    assert result.returncode == 0, result.stderr
    return folder


def both_bits(folder, text):
    """(the network's, the n-gram's) bits of each char of text[1:], as
    --evaluate scores them, for model.json in folder."""
    model, vocab, _, checkpoint = rnn.load_model(str(folder / "model.json"))
    logs = rnn.log_probs(model, rnn.encode(text, vocab))
    texts, _ = rnn.training_texts(str(folder / "model.json"), checkpoint,
                                  vocab)
    _, probs = rnn.counting_line(logs, vocab, *texts, text, "t",
                                 rnn.settings())
    return [-v / math.log(2) for v in logs], [-math.log2(p) for p in probs]


def test_each_kind_of_position_by_its_definition():
    # the character predicted, and for letters the one before it
    cases = [(" ", "a", "word start"), (".", "T", "word start"),
             ("a", "b", "inside a word"), ("x", "_", "inside a word"),
             ("_", "9", "inside a word"), ("a", " ", "space"),
             ("a", "\t", "space"), ("a", "\n", "newline"),
             ("a", ".", "punctuation"), ("a", "'", "punctuation"),
             ("a", "(", "punctuation"), ("a", "—", "punctuation"),
             ("a", "“", "punctuation"), ("a", "+", "other"),
             ("a", "=", "other"), ("a", "$", "other")]
    for before, ch, kind in cases:
        assert rnn.kind_of(before, ch) == kind, (before, ch)
    assert set(rnn.KINDS) == {kind for _, _, kind in cases}


def test_the_kinds_add_up_to_the_overall_figures(quoted):
    # every char scored is of one kind: the counts add up, and the
    # count-weighted means are the overall bits/char; 1e-9: sums of
    # a few hundred floats in another order
    text = QUOTED[:150]
    net, counted = both_bits(quoted, text)
    (heading, kinds), *_ = rnn.compared(text, net, counted)
    assert heading.startswith("bits/char by kind of position")
    assert sum(n for _, n, _, _, _ in kinds) == len(text) - 1
    for k, bits in [(2, net), (3, counted)]:
        weighted = sum(row[1] * row[k] for row in kinds) / (len(text) - 1)
        assert abs(weighted - sum(bits) / len(bits)) < 1e-9
    assert all(note == rnn.KINDS[kind] for kind, _, _, _, note in kinds)


def test_closers_pair_by_nesting_and_by_alternation():
    # brackets nest; a closer that is not the top opener's pairs with
    # nothing; each second " (or ') closes; the ' of don't is no quote
    text = 'a(b[c]d)e "f" don\'t (x] \'yy\' ) "'
    # 0 a, 1 (, 3 [, 5 ], 7 ), 10 ", 12 ", 17 ' (don't), 20 (, 22 ] (the
    # top is "(": no pair), 24 ', 27 ', 29 ) (to 20), 31 " (opens, unclosed)
    assert rnn.closers(text) == [(5, 2), (7, 6), (12, 2), (27, 3), (29, 9)]
    assert rnn.closers("no brackets, no quotes; don't.") == []


def test_closers_are_grouped_by_distance(quoted):
    # distances 1, 5 | 6, 20 | 21, 80 | 81 and more: each in its bin; the
    # mean p is of 2 ** -bits, within (0, 1]
    text = "()(" + "a" * 3 + ")" + "(" + "a" * 5 + ")(" + "a" * 19 + ")(" \
        + "a" * 20 + ")(" + "a" * 79 + ")(" + "a" * 80 + ")"
    net = counted = [1.0] * (len(text) - 1)             # p = 0.5 each
    tables = rnn.compared(text, net, counted)
    assert tables[1][0].startswith("closing brackets")
    rows = tables[1][1]
    assert [(label, n) for label, n, _, _, _ in rows] == [
        ("1-5", 2), ("6-20", 2), ("21-80", 2), ("81+", 1)]
    assert all(abs(a - 0.5) < 1e-12 and abs(b - 0.5) < 1e-12
               for _, _, a, b, _ in rows)              # 1e-12: 2 ** -1
    assert len(rnn.compared("no closers here.", [1.0] * 15, [1.0] * 15)) == 1


class Spans(HTMLParser):
    """The spans of a page with a style: (data-v, title, style, text)."""
    def __init__(self):
        super().__init__()
        self.spans, self.open = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "span" and "data-v" in attrs:
            self.open = [float(attrs["data-v"]), attrs["title"],
                         attrs["style"], ""]
            self.spans.append(self.open)

    def handle_data(self, data):
        if self.open is not None:
            self.open[3] += data

    def handle_endtag(self, tag):
        self.open = None


def test_evaluate_prints_both_tables_and_writes_the_page(quoted, tmp_path):
    # held-out text with quotes and brackets: the kinds, the closers, and
    # evaluate.html, a coloured span per char scored, both figures on hover
    text = 'The cat said "a rat" (to [the] sea).\nOnce a dog\'s mat.\n'
    path = write(tmp_path, "held.txt", text)
    result = cli(quoted, "--evaluate", path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bits/char by kind of position" in out
    assert "closing brackets" in out
    assert out.splitlines()[-1] == "wrote evaluate.html"    # beside model
    page = (quoted / "evaluate.html").read_text(encoding="utf-8")
    parser = Spans()
    parser.feed(page)
    assert "".join(s[3] for s in parser.spans) == text[1:]
    net, counted = both_bits(quoted, text)
    for (v, title, style, _), a, b in zip(parser.spans, net, counted):
        assert v == a - b                                # exact repr
        assert title.endswith(f"network {a:.2f} bits, counting {b:.2f} bits")
        assert style == rnn.unit_style(v / 4)            # full at 4 bits
    assert len(parser.spans) == len(text) - 1


# --- the Kneser-Ney baseline -------------------------------------------------

def test_ngram_probabilities_sum_to_1_at_every_context():
    # 1e-12: a sum of at most 25 terms of rounding; no probability is 0,
    # not even for "z", which is in the vocab but not in the text
    text = "the cat sat on the mat. the rat sat."
    vocab = sorted(set(text) | {"z"})
    ngrams = rnn.fit_ngrams(text, vocab, 5)
    contexts = {text[i:j] for i in range(len(text))
                for j in range(i, min(i + 5, len(text)) + 1)}
    for order in range(1, 6):
        for context in contexts | {"zzzz", "qz"}:
            probs = [rnn.ngram_prob(ngrams, order, context, c) for c in vocab]
            assert abs(sum(probs) - 1.0) < 1e-12, (order, context)
            assert min(probs) > 0.0


def test_kneser_ney_by_hand():
    # "abracadabra", vocab a b c d r (5), p_0 = 1/5.
    # Order 1 counts distinct characters before each one: a after r, c, d
    # (3), b r c d one each; sum 7, 5 types; all seen once: D = 4/4 = 1.
    #   p_1(a) = (3 - 1 + 1·5·1/5) / 7 = 3/7,  p_1(d) = (1 - 1 + 1) / 7
    # Order 2, top: ab br ra twice, ac ca ad da once: D = 4/(4 + 2·3) = 0.4;
    # after "r" only a, twice:
    #   p_2(a | r) = (2 - 0.4 + 0.4·1·3/7) / 2 = 6.2/7
    #   p_2(d | r) = (0 + 0.4·1·1/7) / 2 = 0.2/7
    # Order 3, top: abr bra twice, 5 others once: D = 5/(5 + 2·2) = 5/9;
    # order 2 below it counts distinct chars before each bigram, all 1:
    # D = 1 and p(a | r) = (1 - 1 + 1·1·3/7) / 1 = 3/7;
    #   p_3(a | br) = (2 - 5/9 + 5/9·1·3/7) / 2 = 53/63
    # The order-1 model's top counts occurrences: a 5, b r 2, c d 1; sum 11,
    # D = 2/(2 + 2·2) = 1/3:  p(a) = (5 - 1/3 + 1/3·5·1/5) / 11 = 5/11
    # 1e-15: a few roundings of numbers near 1
    ngrams = rnn.fit_ngrams("abracadabra", list("abcdr"), 3)
    assert abs(rnn.ngram_prob(ngrams, 2, "r", "a") - 6.2 / 7) < 1e-15
    assert abs(rnn.ngram_prob(ngrams, 2, "r", "d") - 0.2 / 7) < 1e-15
    assert abs(rnn.ngram_prob(ngrams, 3, "br", "a") - 53 / 63) < 1e-15
    assert abs(rnn.ngram_prob(ngrams, 1, "", "a") - 5 / 11) < 1e-15


def test_baseline_picks_the_best_order():
    text = STORY * 2
    train, val = rnn.split_data(text, 0.2)
    best, bits, _ = rnn.ngram_baseline(train, val, sorted(set(text)), 6)
    assert sorted(bits) == [1, 2, 3, 4, 5, 6]
    assert bits[best] == min(bits.values())
    assert bits[1] > bits[2] > bits[3]     # context helps on a story


def test_training_ends_with_the_baseline_and_the_copy_check(trained):
    _, out = trained
    lines = out.splitlines()
    ngram = [line for line in lines if "(Kneser–Ney) on the same "
             "validation text" in line]
    assert len(ngram) == 1 and "the model's" in ngram[0]
    after = lines[lines.index(ngram[0]) + 1]     # no mixture line: a sample
    assert after.startswith("--- sample at temperature 0.5 ")
    assert lines[-2].startswith("copy check on the last sample: ")
    assert "longest" in lines[-1]


# --- copy check --------------------------------------------------------------

def test_copy_check_finds_the_copied_stretch():
    train = "the cat sat on the mat. the dog ran."
    sample = "zqxcat sat on thqq dog ran zebra xxy cat sa"
    lines = rnn.copy_lines(sample, train)
    # 13 chars; "dog ran" is 7
    assert lines[1].endswith("13 characters, 'cat sat on th'")
    # 9 words, "sa" left out as perhaps cut short: sat on dog ran cat occur
    assert "5 of its 9 words (56%) occur" in lines[0]


def test_copy_check_of_new_text():
    lines = rnn.copy_lines("qqq zzz.", "abcabc")
    assert "0 of its 2 words (0%)" in lines[0]
    assert lines[1].endswith(" 0 characters, ''")


# --- --compare ---------------------------------------------------------------

def test_compare_prints_a_table_and_an_svg_naming_each_model(trained,
                                                              tmp_path):
    folder, _ = trained
    shutil.copy(folder / "model.json", tmp_path / "model.json")
    data, gru = str(folder / "data.txt"), str(tmp_path / "gru.json")
    assert cli(tmp_path, "--data", data, "--model", gru, "--cell", "gru",
               *TINY).returncode == 0
    rnn_path = str(tmp_path / "model.json")
    result = cli(tmp_path, "--compare", rnn_path, gru)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["model", "cell", "hidden", "weights",
                                "iterations", "characters", "seconds",
                                "train", "val"]
    V = len(set(STORY))                 # U, W, V, b, c at hidden 8
    weights = f"{8 * V + 8 * 8 + V * 8 + 8 + V}"
    # 20 iterations of TINY's 10 characters
    assert lines[1].split()[:6] == [rnn_path, "rnn", "8", weights, "20", "200"]
    assert lines[2].split()[:2] == [gru, "gru"]
    svg = ET.parse(tmp_path / "compare.svg").getroot()
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    # named by file, cell and sequence length (TINY's 10)
    assert f"{rnn_path} (rnn, sequence 10)" in texts
    assert f"{gru} (gru, sequence 10)" in texts
    assert "characters trained (iterations × sequence length)" in texts
    curves = svg.iter("{http://www.w3.org/2000/svg}polyline")
    assert len(list(curves)) == 4               # val and train for each


@pytest.fixture(scope="module")
def two_lengths(trained, tmp_path_factory):
    """A folder with model.json (sequence 10, from trained) and short.json
    (sequence 4, 30 iterations), and the compare.svg of the two."""
    folder = tmp_path_factory.mktemp("compare")
    shutil.copy(trained[0] / "model.json", folder / "model.json")
    write(folder, "data.txt", STORY)
    assert cli(folder, "--model", "short.json", *TINY, "--sequence-length",
               "4", "--max-iterations", "30").returncode == 0
    result = cli(folder, "--compare", "model.json", "short.json")
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


def svg_axes(root):
    """(x ticks [(value, pixel)], y ticks [(value, pixel)]) of a chart,
    read back from the tick labels: x's centred, y's right-aligned."""
    found = {"middle": [], "end": []}
    for t in root.iter("{http://www.w3.org/2000/svg}text"):
        try:
            value = float(t.text.replace(",", ""))
        except ValueError:                     # the title, axis names
            continue
        at = "x" if t.get("text-anchor") == "middle" else "y"
        found[t.get("text-anchor")].append((value, float(t.get(at))))
    return found["middle"], found["end"]


def test_compare_draws_against_iterations_times_sequence_length(
        two_lengths):
    # each validation dot sits at x = its iteration × the model's sequence
    # length, to 0.1 pixel (both are written rounded to 0.1)
    folder, _ = two_lengths
    root = ET.parse(folder / "compare.svg").getroot()
    (x0, p0), *_, (x1, p1) = svg_axes(root)[0]
    for name, val, length in [("model.json", "val0", 10),
                              ("short.json", "val1", 4)]:
        want = [i * length for i, _ in rnn.load_model(
            str(folder / name))[2].history["val"]]
        dots = [float(c.get("cx")) for c in root.iter(
            "{http://www.w3.org/2000/svg}circle") if c.get("class") == val]
        assert len(dots) == len(want) > 0
        for x, dot in zip(want, dots):
            assert abs(p0 + (x - x0) / (x1 - x0) * (p1 - p0) - dot) <= 0.1


def test_compare_fits_the_y_range_to_the_data(two_lengths):
    # the y ticks enclose every drawn loss, with less than one tick step to
    # spare at either end: not from 0, not up to the uniform guess at
    # iteration 0, which is not a measurement and is not drawn
    folder, _ = two_lengths
    root = ET.parse(folder / "compare.svg").getroot()
    ys = sorted(value for value, _ in svg_axes(root)[1])
    step = ys[1] - ys[0]
    drawn = [y for name in ("model.json", "short.json") for key in
             ("train", "val") for i, y in rnn.load_model(
                 str(folder / name))[2].history[key] if i > 0]
    assert ys[0] <= min(drawn) < ys[0] + step
    assert ys[-1] - step < max(drawn) <= ys[-1]
    points = [p for line in root.iter("{http://www.w3.org/2000/svg}polyline")
              for p in line.get("points").split()]
    assert len(points) == len(drawn)           # and nothing else is drawn


def test_compare_shows_the_seconds_trained(two_lengths, tmp_path):
    # the model file's seconds, to 0.1; "-" for a file from before they
    # were kept (no "seconds": loaded as 0)
    folder, out = two_lengths
    seconds = json.loads((folder / "short.json").read_text(
        encoding="utf-8"))["seconds"]
    row = out.splitlines()[2].split()
    assert row[0] == "short.json" and row[5:7] == ["120", f"{seconds:,.1f}"]
    checkpoint = json.loads((folder / "model.json").read_text(
        encoding="utf-8"))
    del checkpoint["seconds"]
    write(tmp_path, "before.json", json.dumps(checkpoint))
    result = cli(tmp_path, "--compare", "before.json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split()[5:7] == ["200", "-"]


def test_compare_with_a_missing_file(trained):
    folder, _ = trained
    assert_error(cli(folder, "--compare", "model.json", "gone.json"),
                 "gone.json", "not found")
    assert not os.path.exists(folder / "compare.svg")


def test_baseline_counts_at_most_ngram_max_chars():
    # a long text is counted from its end, and the line says so
    model = rnn.RNN(len(set(STORY)), 4, seed=1)
    vocab = sorted(set(STORY))
    train, val = STORY[:-60], STORY[-60:]
    logs = rnn.log_probs(model, rnn.encode(val, vocab))
    line, probs = rnn.counting_line(logs, vocab, train, val, val, "val",
                                    rnn.settings(ngram_max_chars=100))
    assert line.endswith("; counted the last 100 training chars")
    assert len(probs) == len(logs) == len(val) - 1   # a p per char scored
    line, _ = rnn.counting_line(logs, vocab, train, val, val, "val",
                                rnn.settings(ngram_max_chars=len(train)))
    assert "counted the last" not in line
    assert "\n" not in line                      # one line, as its name says
