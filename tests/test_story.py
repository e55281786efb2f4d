"""The redesign's promises: the file is a story (lines 1 to the single
'# ===' line) that runs on its own, then tools that only add to it; main()
trains through the story's own loop, to the same weights; no function is
long, and nothing outside the cells asks which cell a model is."""

import ast
import builtins
import json
import math
import os
import re

import pytest

import rnn_from_scratch as rnn
from helpers import SCRIPT, STORY, TINY, write

with open(SCRIPT, encoding="utf-8") as f:
    SOURCE = f.read()
LINES = SOURCE.splitlines(keepends=True)
RULE = [n for n, line in enumerate(LINES, 1) if line.startswith("# ===")]
STORY_END = RULE[0] if RULE else len(LINES) + 1   # the '# ===' line's number
STORY_TEXT = "".join(LINES[:STORY_END - 1])
TREE = ast.parse(SOURCE)
CLASS_OF = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}
# TINY's flags as settings: the same values, the same arithmetic as main(TINY)
TINY_SETTINGS = {flag[2:].replace("-", "_"): int(value)
                 for flag, value in zip(TINY[::2], TINY[1::2])}
PROGRESS = re.compile(r"iter (\d+)/(\d+) \| train (\d+\.\d\d) bits/char \| "
                      r"val (\d+\.\d\d|-) \| ")


def story():
    """A fresh namespace in which the story alone has run."""
    namespace = {"__name__": "story"}
    exec(compile(STORY_TEXT, "story", "exec"), namespace)
    return namespace


# --- 1. the story runs on its own --------------------------------------------

@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_the_story_alone_trains_and_samples(cell, tmp_path, monkeypatch,
                                            capsys):
    write(tmp_path, "data.txt", STORY)
    monkeypatch.chdir(tmp_path)
    ns = story()
    start = math.log2(len(set(STORY)))                 # a uniform guess
    model = ns["train_and_sample"](ns["settings"](
        cell=cell, hidden_size=8, sequence_length=10, max_iterations=100,
        sample_every=50, log_every=25, sample_length=20))
    assert type(model) is ns[CLASS_OF[cell]]
    assert os.listdir(tmp_path) == ["data.txt"]        # it writes no file

    lines = capsys.readouterr().out.splitlines()
    progress = [PROGRESS.match(line) for line in lines
                if line.startswith("iter ")]
    assert None not in progress, lines                 # each line parses
    assert [int(p[1]) for p in progress] == [25, 50, 75, 100]
    assert all(p[2] == "100" for p in progress)
    assert [p[4] != "-" for p in progress] == [False, True, True, True]
    titles = [n for n, line in enumerate(lines)
              if line.startswith("--- sample at iteration ")]
    assert [lines[n].split()[4] for n in titles] == ["50", "100"]
    assert all(lines[n + 1].startswith("Once upon a time") for n in titles)
    # the loss fell: an untrained model scores log2(V) (V starts near 0),
    # and the 1%-per-update smoothed train loss and the validation loss
    # stay within a few hundredths of it unless the model learns. 0.2 and
    # 0.5 bits are far beyond that, and far below what 100 updates reach
    train_bits, val_bits = float(progress[-1][3]), float(progress[-1][4])
    assert train_bits < start - 0.2, (train_bits, start)
    assert val_bits < start - 0.5, (val_bits, start)


def test_the_story_with_no_arguments_uses_the_constants(tmp_path,
                                                        monkeypatch, capsys):
    # exact: train_and_sample() reads the constants at the top (here made
    # small), as a notebook user who edits them and runs it would
    write(tmp_path, "data.txt", STORY)
    monkeypatch.chdir(tmp_path)
    ns = story()
    ns.update(CELL="gru", HIDDEN_SIZE=8, SEQUENCE_LENGTH=10,
              MAX_ITERATIONS=20, SAMPLE_EVERY=10, LOG_EVERY=10,
              SAMPLE_LENGTH=10)
    model = ns["train_and_sample"]()
    assert type(model) is ns["GRU"] and len(model.V[0]) == 8
    out = capsys.readouterr().out
    assert "model: gru, hidden 8, " in out and "iter 20/20 | " in out
    assert os.listdir(tmp_path) == ["data.txt"]


# --- 2. where the story ends -------------------------------------------------

def test_one_rule_ends_the_story_within_650_lines():
    # the story, docstring included, is at most 650 lines
    assert len(RULE) == 1, RULE
    assert RULE[0] <= 650, RULE[0]


# --- 3. the story needs nothing from the tools -------------------------------

SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
          ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def in_scope(node):
    """The nodes under node in its own scope; a nested scope is yielded,
    but not entered."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, SCOPES):
            yield from in_scope(child)


def bound(scope):
    """The names a module, function, lambda, class or comprehension binds."""
    names = set()
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = scope.args
        names |= {arg.arg for arg in a.posonlyargs + a.args + a.kwonlyargs
                  + [a.vararg, a.kwarg] if arg}
    for node in in_scope(scope):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                               ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def undefined(scope, visible=frozenset(dir(builtins))):
    """Names loaded in scope and the scopes in it that nothing visible
    there binds: not a builtin, the module's, or an enclosing function's.
    A class body's names are not visible in its methods."""
    names = visible | bound(scope)
    missing = {node.id for node in in_scope(scope)
               if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
               and node.id not in names}
    inner = visible if isinstance(scope, ast.ClassDef) else names
    for node in in_scope(scope):
        if isinstance(node, SCOPES):
            missing |= undefined(node, inner)
    return missing


def module_of(statements):
    return ast.Module(body=statements, type_ignores=[])


def test_the_name_check_can_fail():
    # the check below must see a name that only the tools define
    tree = ast.parse("import math\nA = 1\nclass C:\n    B = 2\n"
                     "    def f(self, x):\n        return [json.dumps(y)"
                     " for y in x] + [B, A, math.pi, len(x)]\n")
    assert undefined(tree) == {"json", "B"}


def test_the_story_uses_only_its_own_names_and_builtins():
    # every name loaded in the story (in its functions, classes and at the
    # top) is a builtin, an import, or defined in the story itself
    assert undefined(ast.parse(STORY_TEXT)) == set()


def test_the_tools_redefine_no_name_of_the_story():
    # a tool that rebinds a story name would change the lesson under it
    story_names = bound(ast.parse(STORY_TEXT))
    tools = module_of([node for node in TREE.body
                       if node.lineno > STORY_END])
    assert story_names & bound(tools) == set()
    assert {"train", "train_and_sample", "CELLS"} <= story_names  # it looked


# --- 4. short functions ------------------------------------------------------

def test_no_function_is_longer_than_60_lines():
    # def line to last line, docstring and comments included
    long = {f"{node.name} (line {node.lineno}): "
            f"{node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(TREE)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 60}
    assert long == set()


# --- 5. no code asks which cell a model is -----------------------------------

def isinstance_classes():
    """(line, class name) for each class that an isinstance call in the
    file tests against: isinstance(x, C) or isinstance(x, (C, D))."""
    found = []
    for node in ast.walk(TREE):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "isinstance" and len(node.args) == 2):
            kinds = node.args[1]
            for kind in (kinds.elts if isinstance(kinds, ast.Tuple)
                         else [kinds]):
                name = (kind.id if isinstance(kind, ast.Name) else
                        kind.attr if isinstance(kind, ast.Attribute) else "")
                found.append((node.lineno, name))
    return found


def test_no_isinstance_asks_for_a_cell_class_or_model():
    # a cell's behaviour lives in its class, never in an isinstance test
    cells = {"RNN", "GRU", "LSTM", "Model", "RNNCell", "GRUCell", "LSTMCell"}
    assert [(line, name) for line, name in isinstance_classes()
            if name in cells] == []
    assert ("list" in {name for _, name in isinstance_classes()})  # it looked


def test_no_isinstance_tells_the_lstm_state_by_its_tuple():
    # the LSTM's (h, s) is the only tuple state: testing for a tuple is
    # asking "is this an LSTM?" outside the LSTM's class
    assert [(line, name) for line, name in isinstance_classes()
            if name == "tuple"] == []


# --- 6. and 7. main() trains through the story, to the same weights ----------

def test_main_trains_with_the_story_train_loop(tmp_path, monkeypatch,
                                              capsys):
    # exact: one call of train, which does all 20 updates
    write(tmp_path, "data.txt", STORY)
    monkeypatch.chdir(tmp_path)
    calls, story_train = [], rnn.train

    def counted(*args, **kwargs):
        calls.append(args)
        return story_train(*args, **kwargs)

    monkeypatch.setattr(rnn, "train", counted)
    assert rnn.main(TINY) == 0
    assert len(calls) == 1
    with open("model.json", encoding="utf-8") as f:
        assert json.load(f)["iteration"] == 20


def test_main_saves_the_weights_the_story_trains(tmp_path, monkeypatch,
                                                 capsys):
    # tolerance 0: the same settings run the same arithmetic in both
    for folder in ("main", "story"):
        (tmp_path / folder).mkdir()
        write(tmp_path / folder, "data.txt", STORY)
    monkeypatch.chdir(tmp_path / "main")
    assert rnn.main([*TINY, "--seed", "3"]) == 0
    with open("model.json", encoding="utf-8") as f:
        saved = json.load(f)
    monkeypatch.chdir(tmp_path / "story")
    ns = story()
    model = ns["train_and_sample"](ns["settings"](seed=3, **TINY_SETTINGS))
    for name in rnn.PARAM_NAMES:
        assert saved["params"][name] == getattr(model, name), name
        assert saved["memory"][name] == model.memory[name], name
    other = ns["train_and_sample"](ns["settings"](seed=4, **TINY_SETTINGS))
    assert other.W != model.W                          # so the seed counts


def test_every_line_fits_79_columns_and_every_rule_is_79_long():
    # the teaching text's width: nothing wraps in an 80-column editor
    lines = SOURCE.split("\n")
    assert [n for n, line in enumerate(lines, 1) if len(line) > 79] == []
    rules = [line for line in lines if line.startswith(("# ---", "# ==="))]
    assert rules and all(len(line) == 79 for line in rules)
