"""Every user mistake ends in one 'error:' line and exit status 2: no
traceback, no lost or half-written model file, nothing executed."""

import os
import pickle

import pytest

import rnn_from_scratch as rnn
from helpers import STORY, TINY, assert_error, run, write


@pytest.fixture
def folder(tmp_path):
    """A folder holding a small data.txt."""
    write(tmp_path, "data.txt", STORY)
    return tmp_path


@pytest.fixture
def trained(folder):
    """A folder with data.txt and a model.json trained for 20 iterations."""
    result = run(folder, *TINY)
    assert result.returncode == 0, result.stderr
    return folder


# --- data files -------------------------------------------------------------

def test_missing_data_file(folder):
    assert_error(run(folder, "--data", "nope.txt"), "nope.txt", "not found")


def test_data_path_is_a_folder(folder):
    os.mkdir(folder / "texts")
    assert_error(run(folder, "--data", "texts"), "texts", "is a folder")


def test_empty_data_file(folder):
    write(folder, "empty.txt", "")
    assert_error(run(folder, "--data", "empty.txt"), "empty.txt", "is empty")


def test_one_character_data_file(folder):
    write(folder, "one.txt", "a")
    assert_error(run(folder, "--data", "one.txt"), "one.txt", "only 1 character")


def test_data_that_is_not_utf8_names_the_byte(folder):
    (folder / "latin1.txt").write_bytes("first line\ncaf\xe9 au lait\n".encode("latin-1"))
    assert_error(run(folder, "--data", "latin1.txt"), "latin1.txt", "UTF-8",
                 "0xe9", "offset 14", "line 2")


def test_data_shorter_than_one_chunk_still_trains(folder):
    # 8 characters, chunks of 25: training uses shorter chunks instead
    write(folder, "short.txt", "abcabcab")
    result = run(folder, "--data", "short.txt", "--prime-text", "a",
                 "--max-iterations", "5", "--hidden-size", "4", "--sample-length", "5")
    assert result.returncode == 0, result.stderr
    assert "iter 5/5" in result.stdout


def test_empty_validation_split_is_skipped_with_a_notice(folder):
    write(folder, "tiny.txt", "abcabcabca")              # 10% of 10 chars = 1
    result = run(folder, "--data", "tiny.txt", "--prime-text", "a",
                 "--max-iterations", "3", "--hidden-size", "4", "--sample-length", "5")
    assert result.returncode == 0, result.stderr
    assert "notice: no validation split" in result.stdout
    assert "val -" in result.stdout


# --- flags and constants ----------------------------------------------------

@pytest.mark.parametrize("flag, value, words", [
    ("--hidden-size", "0", "at least 1"),
    ("--sequence-length", "-3", "at least 1"),
    ("--max-iterations", "0", "at least 1"),
    ("--learning-rate", "0", "finite number > 0"),
    ("--learning-rate", "-0.1", "finite number > 0"),
    ("--learning-rate", "nan", "finite number > 0"),
    ("--learning-rate", "inf", "finite number > 0"),
    ("--temperature", "-0.5", "finite number >= 0"),
    ("--temperature", "1,nan", "finite number >= 0"),
    ("--top-k", "-1", "0 (off) or more"),
    ("--validation-fraction", "1", "[0, 1)"),
    ("--validation-fraction", "-0.2", "[0, 1)"),
    ("--sample-length", "-1", "0 or more"),
    ("--hidden-size", "many", "invalid int value"),
    ("--temperature", "hot", "not a number"),
])
def test_bad_flag_values(folder, flag, value, words):
    assert_error(run(folder, f"{flag}={value}"), flag, words)


def test_unknown_flag(folder):
    assert_error(run(folder, "--hiden-size", "5"), "--hiden-size",
                 "did you mean --hidden-size?")


def test_bad_constant_is_caught_like_a_flag(folder, monkeypatch, capsys):
    # an edited constant at the top of the file is its flag's default
    monkeypatch.chdir(folder)
    monkeypatch.setattr(rnn, "LEARNING_RATE", -1.0)
    assert rnn.main([]) == 2
    assert capsys.readouterr().err == (
        "error: LEARNING_RATE at the top of the file (or --learning-rate) "
        "must be a finite number > 0, got -1.0\n")


# --- prime text ------------------------------------------------------------

def test_prime_with_unknown_characters_names_them(folder):
    line = assert_error(run(folder, "--prime-text", "Zoë sat"),
                        "--prime-text", "'Z'", "'ë'", "allowed")
    assert "'s'" not in line.split("allowed")[0]           # known ones not named


def test_generate_with_unknown_characters(trained):
    assert_error(run(trained, "--generate", "Quick!"), "'Q'", "'k'", "'!'")


def test_long_allowed_list_is_abbreviated(folder):
    write(folder, "wide.txt", "".join(chr(0x100 + i) for i in range(300)) * 2)
    line = assert_error(run(folder, "--data", "wide.txt", "--prime-text", "@"),
                        "'@'", "allowed (300)")
    assert line.endswith("...'") and len(line) < 250


# --- model files -------------------------------------------------------------

def test_generate_without_a_model_file(folder):
    assert_error(run(folder, "--generate", "Once"), "model.json", "not found")


def test_resume_without_a_model_file(folder):
    assert_error(run(folder, "--resume"), "model.json", "not found")


def test_model_file_that_is_not_json(folder):
    write(folder, "model.json", "hello, world")
    assert_error(run(folder, "--generate", "Once"), "model.json", "not valid JSON")


def test_truncated_model_file(trained):
    data = (trained / "model.json").read_bytes()
    (trained / "model.json").write_bytes(data[:len(data) // 2])
    assert_error(run(trained, "--generate", "Once"), "model.json", "truncated")


def test_deeply_nested_model_file(folder):
    # a hostile file can nest arrays past Python's recursion limit
    write(folder, "model.json", "[" * 100000 + "]" * 100000)
    assert_error(run(folder, "--generate", "Once"), "model.json",
                 "not a usable model file")


def test_model_path_that_is_a_folder(folder):
    os.mkdir(folder / "model.json")
    assert_error(run(folder, "--generate", "Once"), "model.json", "is a folder")
    assert_error(run(folder, *TINY), "model.json", "is a folder")


class Exploit:
    """Unpickling this would create a file named pwned."""

    def __reduce__(self):
        return (open, ("pwned", "w"))


def test_pickle_model_file_is_refused_and_never_run(folder):
    (folder / "model.json").write_bytes(pickle.dumps(Exploit()))
    assert_error(run(folder, "--generate", "Once"), "model.json", "pickle")
    assert not (folder / "pwned").exists()


def edit_model(folder, change):
    """Load model.json as JSON, let change() edit it, write it back."""
    import json
    with open(folder / "model.json", encoding="utf-8") as f:
        data = json.load(f)
    change(data)
    (folder / "model.json").write_text(json.dumps(data), encoding="utf-8")


def test_weight_matrix_of_the_wrong_shape(trained):
    edit_model(trained, lambda d: d["params"]["W"].pop())
    assert_error(run(trained, "--generate", "Once"), "model.json", "W should be 8×8")


def test_weight_that_is_not_a_number(trained):
    edit_model(trained, lambda d: d["params"]["V"][2].__setitem__(3, "0.5"))
    assert_error(run(trained, "--generate", "Once"), "model.json", "V holds '0.5'")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_or_infinite_weight(trained, literal):
    text = (trained / "model.json").read_text(encoding="utf-8")
    start = text.index('"b": [') + len('"b": [')
    end = text.index(",", start)
    (trained / "model.json").write_text(text[:start] + literal + text[end:],
                                        encoding="utf-8")
    assert_error(run(trained, "--generate", "Once"), "model.json")


def test_vocab_that_disagrees_with_the_weights(trained):
    edit_model(trained, lambda d: d["vocab"].append("~"))
    assert_error(run(trained, "--generate", "Once"), "model.json", "vocab has")


def test_resume_with_a_different_hidden_size_flag(trained):
    assert_error(run(trained, *TINY[2:], "--hidden-size", "9", "--max-iterations",
                     "30", "--resume"), "--hidden-size 9", "has 8")


def test_resume_without_the_flag_uses_the_files_hidden_size(trained):
    result = run(trained, "--max-iterations", "25", "--sample-length", "5",
                 "--log-every", "5", "--resume")
    assert result.returncode == 0, result.stderr
    assert "hidden 8" in result.stdout and "iter 25/25" in result.stdout


# --- output path ------------------------------------------------------------

def test_model_folder_that_does_not_exist_fails_before_training(folder):
    result = run(folder, *TINY, "--model", "runs/model.json")
    assert_error(result, "runs/model.json", "does not exist")
    assert "iter " not in result.stdout


def test_model_path_under_a_file_fails_before_training(folder):
    assert_error(run(folder, *TINY, "--model", "data.txt/model.json"),
                 "data.txt/model.json")


def test_model_folder_without_permission(folder):
    if getattr(os, "geteuid", lambda: 1)() != 0:
        os.mkdir(folder / "locked", 0o500)
        path = "locked/model.json"
    elif os.path.isdir("/sys"):
        path = "/sys/model.json"          # sysfs refuses new files, even to root
    else:
        pytest.skip("running as root, with no folder root cannot write")
    result = run(folder, *TINY, "--model", path)
    assert_error(result, path, "Permission denied")
    assert "iter " not in result.stdout


# --- training never writes a broken model ---------------------------------------

def test_exploding_learning_rate_stops_and_keeps_the_last_checkpoint(trained):
    before = (trained / "model.json").read_bytes()
    line = assert_error(run(trained, *TINY, "--max-iterations", "40",
                            "--learning-rate", "1e300", "--resume"),
                        "diverged at iteration 2", "--learning-rate", "model.json")
    assert "1e+299" in line                                 # a smaller rate to try
    assert (trained / "model.json").read_bytes() == before


def test_a_crash_mid_save_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "model.json"
    path.write_text("old contents", encoding="utf-8")

    def crash(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(rnn.UserError, match="No space left"):
        rnn.write_atomically(str(path), "new contents")
    assert path.read_text(encoding="utf-8") == "old contents"
    assert os.listdir(tmp_path) == ["model.json"]            # temp file removed
