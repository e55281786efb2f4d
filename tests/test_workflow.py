"""Rerunning, resuming and loading a model as users do: nothing lost,
nothing silently ignored, every message true (issue 15)."""

import os
import stat

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, assert_error, run, write


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
    result = with_umask(0o022, lambda: run(folder, *TINY))
    assert result.returncode == 0, result.stderr
    written = ["model.json", "vocab.json", "config.json", "loss.svg"]
    for name in written:
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o644, name


# --- friendlier mistakes --------------------------------------------------------

@pytest.mark.parametrize("typed, meant", [
    (["--hiden-size", "32"], "--hidden-size"),
    (["--temprature", "0.9"], "--temperature"),
    (["--learningrate=0.1"], "--learning-rate"),
    (["--max-iter", "5"], "--max-iterations"),
    (["--resum"], "--resume"),
])
def test_a_mistyped_flag_names_the_closest_real_one(folder, typed, meant):
    line = assert_error(run(folder, *typed), typed[0])
    assert line.endswith(f"; did you mean {meant}?"), line


def test_an_argument_like_no_flag_points_to_help(folder):
    assert_error(run(folder, "data.txt"), "unrecognized arguments: data.txt",
                 "see --help")


@pytest.mark.parametrize("typed", ["LSTM", "Gru", "rNN"])
def test_cell_names_in_any_case(typed):
    args = rnn.parse_args(["--cell", typed])
    assert args.cell == typed.lower()


def test_a_capitalised_cell_constant_trains(folder, monkeypatch, capsys):
    # CELL = "LSTM" edited at the top of the file is the lstm
    monkeypatch.chdir(folder)
    monkeypatch.setattr(rnn, "CELL", "LSTM")
    assert rnn.main([*TINY, "--max-iterations", "5",
                     "--sample-length", "0"]) == 0
    assert "model: lstm, hidden 8" in capsys.readouterr().out


@pytest.mark.parametrize("constant, value, flag, words", [
    ("CELL", "lstn", "--cell", "must be one of rnn, gru, lstm, got 'lstn'"),
    ("HIDDEN_SIZE", 0, "--hidden-size", "must be at least 1, got 0"),
    ("SAMPLE_LENGTH", -1, "--sample-length", "must be 0 or more"),
    ("TEMPERATURE", 0.0, "--temperature",
     "must be a finite number > 0"),
    ("VALIDATION_FRACTION", 1.0, "--validation-fraction",
     "must be in [0, 1)"),
    ("PRIME_TEXT", "", "--prime-text", "needs at least one character"),
])
def test_a_bad_constant_is_named_with_its_flag(monkeypatch, capsys, constant,
                                               value, flag, words):
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
