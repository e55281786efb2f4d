"""Rerunning, resuming and loading a model as users do: nothing lost,
nothing silently ignored, every message true (issue 15)."""

import json
import math
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import types

import pytest

import rnn_from_scratch as rnn
from helpers import SCRIPT, STORY, TINY, assert_error, run, write
from helpers import run_main as run_here


@pytest.fixture
def folder(tmp_path):
    """A folder holding a small data.txt."""
    write(tmp_path, "data.txt", STORY)
    return tmp_path


def with_umask(mask, action):
    """Run action() under umask `mask`, then restore the old one."""
    old = os.umask(mask)
    try:
        return action()
    finally:
        os.umask(old)


# --- files as the user expects -----------------------------------------------

@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600),
                                        (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, mask, mode):
    # a normal file's mode, 0666 less the umask; still written atomically
    path = tmp_path / "x.json"
    with_umask(mask, lambda: rnn.write_atomically(str(path), "{}"))
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert os.listdir(tmp_path) == ["x.json"]              # no temp file left


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_every_file_a_run_writes_is_0644_under_umask_022(folder):
    # model, vocab, config and chart: readable by others, as cp makes them;
    # a real process, which starts with the umask it inherits
    result = with_umask(0o022, lambda: run(folder, *TINY))
    assert result.returncode == 0, result.stderr
    written = ["model.json", "vocab.json", "config.json", "loss.svg"]
    for name in written:
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o644, name


# --- friendlier mistakes -----------------------------------------------------

@pytest.mark.parametrize("typed, meant", [
    (["--hiden-size", "32"], "--hidden-size"),
    (["--temprature", "0.9"], "--temperature"),
    (["--learningrate=0.1"], "--learning-rate"),
    (["--max-iter", "5"], "--max-iterations"),
    (["--resum"], "--resume"),
    (["--lr", "0.1"], "--learning-rate"),           # initials
    (["--temp", "0.3"], "--temperature"),           # a prefix
])
def test_a_mistyped_flag_names_the_closest_real_one(capsys, typed, meant):
    # difflib's closest flag, as one error line
    assert rnn.main(typed) == 2
    assert capsys.readouterr().err == (f"error: unrecognized arguments: "
                                       f"{' '.join(typed)}; did you mean "
                                       f"{meant}?\n")


def test_an_argument_like_no_flag_points_to_help(capsys):
    # nothing close to suggest: say where the flags are listed
    assert rnn.main(["data.txt"]) == 2
    assert capsys.readouterr().err == ("error: unrecognized arguments: "
                                       "data.txt; see --help for every "
                                       "flag\n")


@pytest.mark.parametrize("typed", ["LSTM", "Gru", "rNN"])
def test_cell_names_in_any_case(typed):
    # --cell LSTM means the lstm; stored lower-case, as the files name it
    assert rnn.Command(["--cell", typed]).s.cell == typed.lower()


def test_a_capitalised_cell_constant_trains(folder, monkeypatch, capsys):
    # CELL = "LSTM" edited at the top of the file is the lstm
    monkeypatch.chdir(folder)
    monkeypatch.setattr(rnn, "CELL", "LSTM")
    assert rnn.main([*TINY, "--max-iterations", "5",
                     "--sample-length", "0"]) == 0
    assert "model: lstm, hidden 8" in capsys.readouterr().out


@pytest.mark.parametrize("constant, value, flag, words", [
    ("CELL", "lstn", "--cell", "must be one of rnn, gru, lstm, got 'lstn'"),
    ("HIDDEN_SIZE", 0, "--hidden-size", "must be a whole number >= 1, got 0"),
    ("SEQUENCE_LENGTH", 7.5, "--sequence-length",
     "must be a whole number >= 1, got 7.5"),
    ("DATA_PATH", 5, "--data", "must be a file name, not empty, got 5"),
    ("SAMPLE_LENGTH", -1, "--sample-length", "must be a whole number >= 0"),
    ("TEMPERATURE", -0.5, "--temperature",
     "must be a finite number >= 0 (0 = greedy)"),
    ("TOP_K", -1, "--top-k", "must be a whole number >= 0 (0 = off)"),
    ("VALIDATION_FRACTION", 1.0, "--validation-fraction",
     "must be in [0, 1)"),
    ("PRIME_TEXT", "", "--prime-text", "needs at least one character"),
])
def test_a_bad_constant_is_named_with_its_flag(monkeypatch, capsys, constant,
                                               value, flag, words):
    # the user edited the constant, not the flag: name the constant first
    monkeypatch.setattr(rnn, constant, value)
    assert rnn.main(["--generate", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {constant} at the top of the file "
                          f"(or {flag}) {words}"), err


def test_a_bad_flag_is_named_as_typed(capsys):
    # the same mistake typed as a flag names the flag alone
    assert rnn.main(["--cell", "lstn"]) == 2
    assert capsys.readouterr().err == ("error: --cell must be one of rnn, "
                                       "gru, lstm, got 'lstn'\n")


# --- a fresh run never destroys a trained model ------------------------------

@pytest.fixture(scope="module")
def rnn8(tmp_path_factory):
    """A folder with data.txt and an rnn of hidden size 8, 20 iterations;
    tests that change it use `trained`, a copy."""
    folder = tmp_path_factory.mktemp("rnn8")
    write(folder, "data.txt", STORY)
    result = run_here(folder, *TINY)
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def trained(folder, rnn8):
    """A folder with data.txt and a model.json trained for 20 iterations."""
    shutil.copy(rnn8 / "model.json", folder / "model.json")
    return folder


def notices(result):
    return [l for l in result.stdout.splitlines() if l.startswith("notice:")]


def test_a_rerun_keeps_the_old_model_byte_for_byte(trained):
    # an hour of training is never one rerun away from gone
    before = (trained / "model.json").read_bytes()
    val = json.loads(before)["history"]["val"][-1][1]
    result = run_here(trained, *TINY, "--cell", "gru", "--max-iterations",
                      "10")
    assert result.returncode == 0, result.stderr
    assert (trained / "model.old.json").read_bytes() == before
    assert json.loads((trained / "model.json").read_bytes())["cell"] == "gru"
    assert notices(result) == [
        f"notice: model.json holds an earlier model (rnn, hidden 8, 20 "
        f"iterations, val {val:.2f} bits/char); this run's first save keeps "
        f"it as model.old.json"]


def test_the_kept_model_is_one_generation_deep(trained):
    # the next rerun replaces model.old.json with the model it replaces
    first = (trained / "model.json").read_bytes()
    assert run_here(trained, *TINY, "--seed", "1").returncode == 0
    second = (trained / "model.json").read_bytes()
    assert run_here(trained, *TINY, "--seed", "2").returncode == 0
    assert (trained / "model.old.json").read_bytes() == second != first


def test_a_model_file_it_cannot_use_is_kept_too(folder):
    # a model file of some other shape is still the user's: kept, not lost
    write(folder, "mine.json", '{"params": {"U": "x"}}')
    result = run_here(folder, *TINY, "--model", "mine.json")
    assert result.returncode == 0, result.stderr
    assert (folder / "mine.old.json").read_text() == '{"params": {"U": "x"}}'
    assert notices(result) == [
        "notice: mine.json holds an earlier model (one this script cannot "
        "use); this run's first save keeps it as mine.old.json"]


def test_a_text_given_as_the_model_is_never_replaced(folder):
    # --model notes.txt for --data notes.txt: a second run would have lost
    # the notes; nothing is written, and the error says which flag is which
    write(folder, "notes.txt", "my own notes, not a model")
    assert_error(run_here(folder, *TINY, "--model", "notes.txt"),
                 "--model notes.txt is not a model file", "--data")
    assert (folder / "notes.txt").read_text() == "my own notes, not a model"
    assert sorted(p.name for p in folder.iterdir()) == ["data.txt",
                                                        "notes.txt"]


def test_a_failed_check_moves_nothing(trained):
    # a mistake found before training leaves model.json where it was
    assert_error(run_here(trained, *TINY, "--prime-text", "Zebra"), "'Z'")
    assert not (trained / "model.old.json").exists()


def test_a_model_that_cannot_be_kept_stops_the_run(trained):
    # never train over a model that could not be put aside
    os.mkdir(trained / "model.old.json")
    write(trained / "model.old.json", "x", "in the way")
    before = (trained / "model.json").read_bytes()
    result = run_here(trained, *TINY)
    assert_error(result, "cannot keep the old model.json as model.old.json",
                 "--model NEW.json")
    assert "iter " not in result.stdout
    assert (trained / "model.json").read_bytes() == before


def test_resume_writes_in_place(trained):
    # resuming continues the same model: nothing to keep aside
    result = run_here(trained, *TINY, "--max-iterations", "25", "--resume")
    assert result.returncode == 0, result.stderr
    assert not (trained / "model.old.json").exists()
    assert json.loads((trained / "model.json").read_bytes())["iteration"] == 25


# --- messages that are true --------------------------------------------------

def test_divergence_before_any_checkpoint_says_none_was_written(folder):
    # no file was written, so no "last good checkpoint" is kept
    line = assert_error(run_here(folder, *TINY, "--learning-rate", "1e300"),
                        "diverged at iteration 2 (")
    assert line.endswith("no checkpoint was written to model.json"), line
    assert not (folder / "model.json").exists()


def test_divergence_before_a_save_costs_nothing(trained):
    # the old model stays where it was, and so does an older model.old.json
    before = (trained / "model.json").read_bytes()
    write(trained, "model.old.json", "an older model")
    line = assert_error(run_here(trained, *TINY, "--learning-rate",
                                 "1e300"), "diverged at iteration 2 (")
    assert line.endswith("no checkpoint was written to model.json, which "
                         "still holds the earlier model"), line
    assert (trained / "model.json").read_bytes() == before
    assert (trained / "model.old.json").read_text() == "an older model"


def test_a_missing_model_names_the_one_put_aside(trained):
    # after a rerun the user deleted model.json: point at model.old.json
    assert run_here(trained, *TINY, "--seed", "1").returncode == 0
    os.remove(trained / "model.json")
    assert_error(run_here(trained, "--generate", "Once"), "model.json was not "
                 "found, but model.old.json holds the model an earlier run "
                 "put aside: pass --model model.old.json")


# --- every command that reads a model checks the flags against it ------------

READERS = [["--generate", "Once"], ["--predict", "Once"],
           ["--gradient-flow", STORY[:40], "--flow-steps", "5"],
           ["--activations", "Once"], ["--resume", "--max-iterations", "30"]]


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
@pytest.mark.parametrize("flag, value, has", [("--cell", "lstm", "rnn"),
                                              ("--hidden-size", "16", "8")])
def test_a_reading_command_refuses_a_contradicting_flag(
        rnn8, monkeypatch, capsys, command, flag, value, has):
    # the error --resume always gave, from every command that reads a model
    monkeypatch.chdir(rnn8)
    before = (rnn8 / "model.json").read_bytes()
    assert rnn.main([*command, flag, value]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"error: {flag} {value} does not match "
                                 f"model.json, which has {has}; leave the "
                                 f"flag out to use the file's\n")
    assert (rnn8 / "model.json").read_bytes() == before


@pytest.mark.parametrize("command", READERS[:4], ids=lambda c: c[0])
def test_a_reading_command_accepts_flags_that_agree(rnn8, monkeypatch,
                                                    command):
    # the file's own cell (in any case) and hidden size are no contradiction
    monkeypatch.chdir(rnn8)
    assert rnn.main([*command, "--cell", "RNN", "--hidden-size", "8"]) == 0


# --- --resume continues the run as it was trained ----------------------------

OWN_RUN = ["--data", "notes.txt", "--learning-rate", "0.1",
           "--sequence-length", "7", "--sample-every", "15",
           "--validation-fraction", "0.2", "--log-every", "3",
           "--hidden-size", "8", "--sample-length", "10"]


def weights_and_place(folder):
    with open(folder / "model.json", encoding="utf-8") as f:
        saved = json.load(f)
    return {key: saved[key] for key in ("params", "memory", "iteration",
                                        "position", "h", "smooth_loss")}


def test_resume_with_no_flags_matches_one_straight_run(tmp_path):
    # 30 iterations with non-default flags, then --resume to 45 with only
    # --max-iterations: the same weights, to the last bit, as 45 straight
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    for folder in (straight, resumed):
        folder.mkdir()
        write(folder, "notes.txt", STORY.lower())
    assert run_here(straight, *OWN_RUN, "--max-iterations",
                    "45").returncode == 0
    assert run_here(resumed, *OWN_RUN, "--max-iterations",
                    "30").returncode == 0
    result = run_here(resumed, "--resume", "--max-iterations", "45")
    assert result.returncode == 0, result.stderr
    assert weights_and_place(resumed) == weights_and_place(straight)
    assert "data: notes.txt," in result.stdout
    assert ("training 45 iterations of 7 characters, learning rate 0.1 "
            "(adagrad, clip 5, clip norm 0), sample every 15") in result.stdout
    assert ("notice: using model.json's --learning-rate 0.1, not "
            "LEARNING_RATE = 0.05 at the top of the file") in notices(result)
    named = [line.split()[3] for line in notices(result)
             if line.startswith("notice: using model.json's")]
    assert sorted(named) == sorted([
        "--hidden-size", "--data", "--sequence-length", "--learning-rate",
        "--validation-fraction", "--sample-every", "--log-every"])
    assert not (resumed / "data.txt").exists()


def test_a_flag_given_on_resume_replaces_the_saved_value(trained):
    # a typed flag wins over the file, with a notice naming both values
    result = run_here(trained, *TINY, "--max-iterations", "25",
                      "--learning-rate", "0.02", "--resume")
    assert result.returncode == 0, result.stderr
    assert notices(result) == ["notice: --learning-rate 0.02 replaces 0.05, "
                               "the value model.json was trained with"]
    assert "learning rate 0.02" in result.stdout
    saved = json.loads((trained / "model.json").read_bytes())["config"]
    assert saved["learning_rate"] == 0.02          # and the next resume

def test_resume_says_which_cell_and_total_it_uses(trained, monkeypatch,
                                                  capsys):
    # CELL edited to "lstm" at the top: the file's rnn is used, and said so;
    # with no --max-iterations, the total comes from the constant, said too
    monkeypatch.chdir(trained)
    monkeypatch.setattr(rnn, "MAX_ITERATIONS", 25)
    monkeypatch.setattr(rnn, "CELL", "lstm")
    assert rnn.main(["--hidden-size", "8", "--sample-length", "0",
                     "--resume"]) == 0
    lines = notices(types.SimpleNamespace(stdout=capsys.readouterr().out))
    assert lines[0] == ("notice: using model.json's --cell rnn, not CELL = "
                        "'lstm' at the top of the file")
    assert lines[-1] == ("notice: training on to MAX_ITERATIONS = 25 at the "
                         "top of the file; pass --max-iterations to choose "
                         "the total")


def test_resume_without_the_saved_data_file_names_it(folder):
    # the model's own data path is used, so the error names that file
    write(folder, "notes.txt", STORY.lower())
    assert run_here(folder, *OWN_RUN, "--max-iterations", "9").returncode == 0
    os.remove(folder / "notes.txt")
    assert_error(run_here(folder, "--resume", "--max-iterations", "12"),
                 "data file notes.txt was not found; model.json was trained "
                 "on it; pass --data with its path")


def test_a_bad_saved_setting_names_the_file(trained):
    # a hand-edited config fails like a flag, naming the file, not a flag
    saved = json.loads((trained / "model.json").read_bytes())
    saved["config"]["sequence_length"] = "ten"
    (trained / "model.json").write_text(json.dumps(saved), encoding="utf-8")
    assert_error(run_here(trained, "--resume", "--max-iterations", "30"),
                 "--sequence-length saved in model.json must be a whole "
                 "number >= 1, got 'ten'")
    saved["config"]["sequence_length"] = 0
    (trained / "model.json").write_text(json.dumps(saved), encoding="utf-8")
    assert_error(run_here(trained, "--resume", "--max-iterations", "30"),
                 "--sequence-length saved in model.json must be a whole "
                 "number >= 1, got 0")


def test_a_fractional_saved_whole_number_names_the_file(trained):
    # 7.5 characters per chunk cannot be; name the file, as for 'ten'
    saved = json.loads((trained / "model.json").read_bytes())
    saved["config"]["sequence_length"] = 7.5
    (trained / "model.json").write_text(json.dumps(saved), encoding="utf-8")
    assert_error(run_here(trained, "--resume", "--max-iterations", "30"),
                 "--sequence-length saved in model.json must be a whole "
                 "number >= 1, got 7.5")


def test_the_resumed_header_says_where_the_run_stands(trained):
    # not the loss of a uniform guess, which a resumed model is long past
    saved = json.loads((trained / "model.json").read_bytes())
    train, val = saved["smooth_loss"], saved["history"]["val"][-1][1]
    result = run_here(trained, *TINY, "--max-iterations", "25", "--resume")
    assert result.returncode == 0, result.stderr
    assert (f"resuming model.json at iteration 20: train {train:.2f} "
            f"bits/char, val {val:.2f} bits/char"
            ) in result.stdout.splitlines()
    assert "before training" not in result.stdout


def test_ctrl_c_ends_with_the_command_to_continue(tmp_path):
    # the user typed `mypython3` (a name on PATH): the last line on the
    # screen is the command to continue, with that name, and it works
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    try:
        os.symlink(sys.executable, bin_dir / "mypython3")
    except (OSError, NotImplementedError):
        pytest.skip("no symlinks here")
    write(tmp_path, "data.txt", STORY)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    flags = [*TINY, "--max-iterations", "1000000", "--sample-every",
             "1000000", "--log-every", "50"]
    process = subprocess.Popen(["mypython3", SCRIPT, *flags], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    screen = []
    for line in process.stdout:                    # wait until training runs
        screen.append(line)
        if line.startswith("iter "):
            process.send_signal(signal.SIGINT)
            break
    screen += process.stdout.readlines()
    assert process.wait(timeout=30) == 130, screen
    last = screen[-1].rstrip("\n")
    assert last == "  " + shlex.join(["mypython3", SCRIPT, *flags, "--resume"])
    assert screen[-2].startswith("interrupted at iteration ")
    saved = json.loads((tmp_path / "model.json").read_bytes())
    stopped_at = saved["iteration"]
    resumed = subprocess.run(shlex.split(last) + ["--max-iterations",
                                                  str(stopped_at + 5)],
                             cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert (f"resuming model.json at iteration {stopped_at}: train "
            in resumed.stdout)


def test_the_interpreter_is_named_as_typed(monkeypatch, tmp_path):
    # pypy3 as typed; a venv's python by the path the user typed
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setattr(sys, "argv", ["rnn_from_scratch.py"])
    venv_python = str(tmp_path / ".venv" / "bin" / "python")
    for typed, shown in [("pypy3", "pypy3"), (venv_python, venv_python)]:
        monkeypatch.setattr(sys, "orig_argv", [typed, "rnn_from_scratch.py"],
                            raising=False)
        assert rnn.resume_command(["--cell", "gru"]) == (
            f"{shown} rnn_from_scratch.py --cell gru --resume")


@pytest.mark.parametrize("steps, note", [
    ("5", "note: training cut the gradient after 10 steps (--sequence-length)"
          "; this table stops at k = 4, within that reach"),
    ("12", "note: training cut the gradient after 10 steps "
           "(--sequence-length); past k = 9 the model was never trained to "
           "use it")])
def test_the_gradient_flow_note_uses_the_k_that_applies(rnn8, steps, note):
    # the note speaks of the k the table shows
    result = run_here(rnn8, "--gradient-flow", STORY[:60], "--flow-steps",
                      steps)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == note


@pytest.mark.parametrize("low, high, top", [(1e-9, 1.24, 1), (1e-9, 1.0, 0),
                                            (1e-5, 0.3, 0), (2e-3, 0.02, -1),
                                            (1e-30, 50.0, 2)])
def test_a_log_chart_tops_out_at_the_first_decade_above_the_data(low, high,
                                                                 top):
    # 1.24 -> 1e+01, not 1e+02; exactly 1.0 -> 1e+00 (the SVG chart; the
    # text chart now draws only the loss, on a linear scale)
    points = [(0, math.log10(high)), (5, math.log10(low))]
    series = [("flow", "mean norm", "*", "#1f77b4", points)]
    _, y_ticks = rnn.chart_axes(series, log=True)
    assert y_ticks[-1] == top and y_ticks[0] <= math.log10(low)
    assert all(type(y) is int for y in y_ticks)               # whole decades
    assert 2 <= len(y_ticks) <= 9
    svg = rnn.svg_chart(series, "t", y_label=lambda y: f"{10 ** y:.0e}",
                        log=True)
    assert f'text-anchor="end">{10.0 ** top:.0e}</text>' in svg
    assert f">{10.0 ** (top + 1):.0e}<" not in svg


# --- readable pages ----------------------------------------------------------

def contrast(style):
    """WCAG contrast ratio of a unit_style's text on its background."""
    def luminance(r, g, b):
        def linear(c):
            c /= 255
            return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
        return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    css = dict(part.split(":") for part in style.split(";"))
    back = luminance(*map(int, css["background"][4:-1].split(",")))
    ink = {"black": 0.0, "white": 1.0}[css["color"]]
    light, dark = max(back, ink), min(back, ink)
    return (light + 0.05) / (dark + 0.05)


def test_activation_text_is_readable_on_every_background():
    # WCAG AA asks 4.5:1 for normal text; full blue under black text is
    # 2.4:1, so the colour stops at 60% strength and the text stays black
    values = [k / 100 for k in range(-200, 201)]          # past ±1 too
    worst = min(contrast(rnn.unit_style(v)) for v in values)
    assert worst >= 4.5, worst
    assert all(rnn.unit_style(v).endswith(";color:black") for v in values)
    assert rnn.unit_style(-1.0) == "background:rgb(102,102,255);color:black"
    assert rnn.unit_style(1.0) == "background:rgb(255,102,102);color:black"


def test_the_activations_page_uses_readable_styles(rnn8):
    # every style on the page, legend included, passes WCAG AA
    assert run_here(rnn8, "--activations", "Once upon").returncode == 0
    page = (rnn8 / "activations.html").read_text(encoding="utf-8")
    styles = re.findall(r'style="([^"]+)"', page)
    assert len(styles) >= 3 + 8 * len("Once upon")        # legend and rows
    assert all(contrast(style) >= 4.5 for style in styles)


def test_a_view_names_the_training_flags_it_ignores(trained):
    # --generate prints only text on stdout; the notice goes to stderr
    result = run_here(trained, "--generate", "Once", "--sample-length", "5",
                      "--learning-rate", "0.5", "--data", "other.txt")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Once") and len(result.stdout) == 10
    assert result.stderr == ("notice: --generate reads model.json and "
                             "ignores --data, --learning-rate\n")
