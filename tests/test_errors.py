"""Every user mistake ends in one 'error:' line and exit status 2: no
traceback, no lost or half-written model file, nothing executed.

Most cases call main() in this process (an uncaught exception would fail
the test as a traceback would); the first test runs the file itself, for
the real exit status and stderr."""

import json
import os
import pickle
import shutil

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, assert_error, run, write
from helpers import run_main as run_here


@pytest.fixture
def folder(tmp_path):
    """A folder holding a small data.txt."""
    write(tmp_path, "data.txt", STORY)
    return tmp_path


@pytest.fixture(scope="module")
def rnn8(tmp_path_factory):
    """A folder with data.txt and a model.json (rnn, hidden 8) trained for
    20 iterations, once per module; tests that change it use `trained`."""
    folder = tmp_path_factory.mktemp("rnn8")
    write(folder, "data.txt", STORY)
    result = run_here(folder, *TINY)
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def trained(folder, rnn8):
    """A folder with data.txt and its own copy of rnn8's model.json."""
    shutil.copy(rnn8 / "model.json", folder / "model.json")
    return folder


# --- data files -------------------------------------------------------------

def test_missing_data_file_as_a_real_process(folder):
    # `python rnn_from_scratch.py`: exit status 2 and one line, no traceback
    assert_error(run(folder, "--data", "nope.txt"), "nope.txt", "not found",
                 "--data")


def test_data_path_is_a_folder(folder):
    # a folder is not a text file: say so, not "not found"
    os.mkdir(folder / "texts")
    assert_error(run_here(folder, "--data", "texts"), "texts", "is a folder")


def test_empty_data_file(folder):
    # nothing to learn from: name the file and why
    write(folder, "empty.txt", "")
    assert_error(run_here(folder, "--data", "empty.txt"), "empty.txt",
                 "is empty")


def test_one_character_data_file(folder):
    # one character has no next character to predict
    write(folder, "one.txt", "a")
    assert_error(run_here(folder, "--data", "one.txt"), "one.txt",
                 "only 1 character")


def test_data_that_is_not_utf8_names_the_byte(folder):
    # the byte and its line, so the user can find it
    (folder / "latin1.txt").write_bytes(
        "first line\ncaf\xe9 au lait\n".encode("latin-1"))
    assert_error(run_here(folder, "--data", "latin1.txt"), "latin1.txt",
                 "UTF-8", "0xe9", "on line 2")


def test_data_shorter_than_one_chunk_still_trains(folder):
    # 8 characters, chunks of 25: training uses shorter chunks instead
    write(folder, "short.txt", "abcabcab")
    result = run_here(folder, "--data", "short.txt", "--prime-text", "a",
                      "--max-iterations", "5", "--hidden-size", "4",
                      "--sample-length", "5")
    assert result.returncode == 0, result.stderr
    assert "iter 5/5" in result.stdout


def test_empty_validation_split_is_skipped_with_a_notice(folder):
    # 10% of 10 characters is 1, too few to score: train without it
    write(folder, "tiny.txt", "abcabcabca")
    result = run_here(folder, "--data", "tiny.txt", "--prime-text", "a",
                      "--max-iterations", "3", "--hidden-size", "4",
                      "--sample-length", "5")
    assert result.returncode == 0, result.stderr
    assert "notice: no validation split" in result.stdout
    assert "val -" in result.stdout


# --- flags and constants ----------------------------------------------------

@pytest.mark.parametrize("flag, value, words", [
    ("--hidden-size", "0", "a whole number >= 1, got 0"),
    ("--sequence-length", "-3", "a whole number >= 1, got -3"),
    ("--max-iterations", "0", "a whole number >= 1, got 0"),
    ("--ngram-order", "0", "a whole number >= 1, got 0"),
    ("--learning-rate", "0", "finite number > 0"),
    ("--learning-rate", "-0.1", "finite number > 0"),
    ("--learning-rate", "nan", "finite number > 0, got nan"),
    ("--learning-rate", "inf", "finite number > 0, got inf"),
    ("--temperature", "-0.5", "finite number >= 0"),
    ("--temperature", "1,nan", "finite number >= 0"),
    ("--top-k", "-1", "a whole number >= 0 (0 = off)"),
    ("--validation-fraction", "1", "[0, 1)"),
    ("--validation-fraction", "-0.2", "[0, 1)"),
    ("--sample-length", "-1", "a whole number >= 0"),
    ("--hidden-size", "many", "invalid int value"),
    ("--temperature", "hot", "not a number"),
])
def test_bad_flag_values(folder, flag, value, words):
    # the flag as typed, and what its value must be
    assert_error(run_here(folder, f"{flag}={value}"), flag, words)


def test_unknown_flag(folder):
    # a typo names the flag meant
    assert_error(run_here(folder, "--hiden-size", "5"), "--hiden-size",
                 "did you mean --hidden-size?")


def test_bad_constant_is_caught_like_a_flag(folder, monkeypatch):
    # an edited constant at the top of the file is its flag's default
    monkeypatch.setattr(rnn, "LEARNING_RATE", -1.0)
    result = run_here(folder)
    assert_error(result)
    assert result.stderr == (
        "error: LEARNING_RATE at the top of the file (or --learning-rate) "
        "must be a finite number > 0, got -1.0\n")


# --- prime text ------------------------------------------------------------

def test_prime_with_unknown_characters_names_them(folder):
    # only the unknown characters are named, then the ones allowed
    line = assert_error(run_here(folder, "--prime-text", "Zoë sat"),
                        "--prime-text", "'Z'", "'ë'", "allowed", "data.txt")
    assert "'s'" not in line.split("allowed")[0]           # known ones not named


def test_generate_with_unknown_characters(rnn8):
    # the model's vocabulary decides what --generate can start from
    assert_error(run_here(rnn8, "--generate", "Quick!"), "--generate",
                 "'Q'", "'k'", "'!'", "model.json")


def test_long_allowed_list_is_abbreviated(folder):
    # 300 allowed characters would not fit one readable line
    write(folder, "wide.txt", "".join(chr(0x100 + i) for i in range(300)) * 2)
    line = assert_error(run_here(folder, "--data", "wide.txt",
                                 "--prime-text", "@"),
                        "'@'", "allowed (300)")
    assert line.endswith("...'") and len(line) < 250


# --- model files -------------------------------------------------------------

def test_generate_without_a_model_file(folder):
    # and how to make one
    assert_error(run_here(folder, "--generate", "Once"), "model.json",
                 "not found", "train one first")


def test_resume_without_a_model_file(folder):
    # nothing to continue: name the file looked for
    assert_error(run_here(folder, "--resume"), "model.json", "not found")


def test_model_file_that_is_not_json(folder):
    # any other file under the name: say it is not JSON, never guess
    write(folder, "model.json", "hello, world")
    assert_error(run_here(folder, "--generate", "Once"), "model.json",
                 "not valid JSON")


def test_truncated_model_file(trained):
    # half a file, as a crash in an older save or a copy cut short leaves
    data = (trained / "model.json").read_bytes()
    (trained / "model.json").write_bytes(data[:len(data) // 2])
    assert_error(run_here(trained, "--generate", "Once"), "model.json",
                 "truncated")


def test_deeply_nested_model_file(folder):
    # a hostile file can nest arrays past Python's recursion limit
    write(folder, "model.json", "[" * 100000 + "]" * 100000)
    assert_error(run_here(folder, "--generate", "Once"), "model.json",
                 "not a usable model file")


def test_model_path_that_is_a_folder(folder):
    # reading it and training into it both name the folder
    os.mkdir(folder / "model.json")
    assert_error(run_here(folder, "--generate", "Once"), "model.json",
                 "is a folder")
    assert_error(run_here(folder, *TINY), "--model model.json is a folder")


class Exploit:
    """Unpickling this would create a file named pwned."""

    def __reduce__(self):
        return (open, ("pwned", "w"))


def test_pickle_model_file_is_refused_and_never_run(folder):
    # loading a pickle can run any code: refuse it before looking inside
    (folder / "model.json").write_bytes(pickle.dumps(Exploit()))
    assert_error(run_here(folder, "--generate", "Once"), "model.json",
                 "pickle")
    assert not (folder / "pwned").exists()


def edit_model(folder, change):
    """Load model.json as JSON, let change() edit it, write it back."""
    with open(folder / "model.json", encoding="utf-8") as f:
        data = json.load(f)
    change(data)
    (folder / "model.json").write_text(json.dumps(data), encoding="utf-8")


def test_weight_matrix_of_the_wrong_shape(trained):
    # a row missing from W: the shape it should have
    edit_model(trained, lambda d: d["params"]["W"].pop())
    assert_error(run_here(trained, "--generate", "Once"), "model.json",
                 "W should be 8×8")


def test_weight_row_of_the_wrong_length(trained):
    # an entry missing from one row of W: still the matrix's shape
    edit_model(trained, lambda d: d["params"]["W"][0].pop())
    assert_error(run_here(trained, "--generate", "Once"), "model.json",
                 "W should be 8×8")


def test_weight_that_is_not_a_number(trained):
    # a string where a number belongs, named with its matrix
    edit_model(trained, lambda d: d["params"]["V"][2].__setitem__(3, "0.5"))
    assert_error(run_here(trained, "--generate", "Once"), "model.json",
                 "V holds '0.5'", "not a finite number")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_or_infinite_weight(trained, literal):
    # JSON extensions and overflowing numbers are refused, not computed with
    text = (trained / "model.json").read_text(encoding="utf-8")
    start = text.index('"b": [') + len('"b": [')
    end = text.index(",", start)
    (trained / "model.json").write_text(text[:start] + literal + text[end:],
                                        encoding="utf-8")
    assert_error(run_here(trained, "--generate", "Once"), "model.json",
                 "not a usable model file")


def test_vocab_that_disagrees_with_the_weights(trained):
    # 22 characters against weights for 21: U's shape follows the vocab
    edit_model(trained, lambda d: d["vocab"].append("~"))
    assert_error(run_here(trained, "--generate", "Once"),
                 "model.json is not a usable model file", "U should be 8×22")


def test_resume_with_a_different_hidden_size_flag(trained):
    # the file's hidden size cannot change mid-run
    assert_error(run_here(trained, *TINY[2:], "--hidden-size", "9",
                          "--max-iterations", "30", "--resume"),
                 "--hidden-size 9", "has 8")


def test_resume_without_the_flag_uses_the_files_hidden_size(trained):
    # HIDDEN_SIZE = 64 at the top gives way to the file's 8
    result = run_here(trained, "--max-iterations", "25", "--sample-length",
                      "5", "--log-every", "5", "--resume")
    assert result.returncode == 0, result.stderr
    assert "hidden 8" in result.stdout and "iter 25/25" in result.stdout


# --- output path ------------------------------------------------------------

def test_model_folder_that_does_not_exist_fails_before_training(folder):
    # found before an hour of training, not after
    result = run_here(folder, *TINY, "--model", "runs/model.json")
    assert_error(result, "--model runs/model.json", "cannot be written",
                 "does not exist")
    assert "iter " not in result.stdout


def test_model_path_under_a_file_fails_before_training(folder):
    # data.txt is a file, so nothing can be written under it
    result = run_here(folder, *TINY, "--model", "data.txt/model.json")
    assert_error(result, "--model data.txt/model.json", "cannot be written")
    assert "iter " not in result.stdout


def test_model_folder_without_permission(folder):
    # the system's reason, before training starts
    if getattr(os, "geteuid", lambda: 1)() != 0:
        os.mkdir(folder / "locked", 0o500)
        path = "locked/model.json"
    elif os.path.isdir("/sys"):
        path = "/sys/model.json"          # sysfs refuses new files, even to root
    else:
        pytest.skip("running as root, with no folder root cannot write")
    result = run_here(folder, *TINY, "--model", path)
    assert_error(result, f"--model {path}", "cannot be written",
                 "Permission denied")
    assert "iter " not in result.stdout


# --- training never writes a broken model ---------------------------------------

def test_exploding_learning_rate_stops_and_keeps_the_last_checkpoint(trained):
    # resumed at 20, the loss blows up at 22: name the rate, a smaller one,
    # and the checkpoint left untouched on disk
    before = (trained / "model.json").read_bytes()
    line = assert_error(run_here(trained, *TINY, "--max-iterations", "40",
                                 "--learning-rate", "1e300", "--resume"),
                        "diverged at iteration 22",
                        "the learning rate 1e+300 is too high",
                        "try 1e+299 or less")
    assert line.endswith("; the last good checkpoint in model.json is kept")
    assert (trained / "model.json").read_bytes() == before


def test_a_crash_mid_save_leaves_the_old_file_whole(tmp_path, monkeypatch):
    # write to a temp file, fsync, rename: a failed fsync changes nothing
    path = tmp_path / "model.json"
    path.write_text("old contents", encoding="utf-8")

    def crash(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(rnn.UserError, match="No space left"):
        rnn.write_atomically(str(path), "new contents")
    assert path.read_text(encoding="utf-8") == "old contents"
    assert os.listdir(tmp_path) == ["model.json"]            # temp file removed
