"""--grade: the instructor's copy grades submissions it never imports. Each
file's step_backward runs in a child process, on fresh random problems,
and the verdict is computed here, where nothing a submission does to its
own tolerance, builtins or globals can reach."""

import csv

import pytest

import rnn_from_scratch as rnn
from helpers import SCRIPT, assert_error, run_main, write

ORIGINAL = open(SCRIPT, encoding="utf-8").read()
BLANK = '        raise NotImplementedError("your code here")'
ANSWER = ORIGINAL[ORIGINAL.index("        s, i, f, g, o, tanh_s = cache\n"):
                  ORIGINAL.index("        return dpre, dpre, [dh_prev, "
                                 "ds_prev]")] + \
    "        return dpre, dpre, [dh_prev, ds_prev]"
RIGHT = "ds_prev = [d * fi for d, fi in zip(ds, f)]"


def handout():
    """The LSTM handout, as --exercise writes it."""
    return ORIGINAL.replace(ANSWER, BLANK, 1)


def submission(body, top="", edit=lambda text: text):
    """The handout with body in the blank, top before it, edit applied."""
    return edit(top + handout().replace(BLANK, body, 1))


SUBMISSIONS = {   # file: (text, verdict, a flag or a changed definition)
    "right.py": (submission(ANSWER.replace(RIGHT, "ds_prev = [f[k] * ds[k] "
                                           "for k in range(len(ds))]")),
                 "PASS", None),
    "copied.py": (submission(ANSWER), "PASS", None),
    "subtle.py": (submission(ANSWER.replace(RIGHT, "ds_prev = ds")), "FAIL",
                  None),
    "crash.py": (submission(ANSWER.replace(RIGHT, "ds_prev = [ds[k] * f[k + 1]"
                                           " for k in range(len(ds))]")),
                 "CRASH", None),
    "endless.py": (submission("        while True:\n            pass"),
                   "TIMEOUT", None),
    "outside.py": (submission(ANSWER.replace(RIGHT, "ds_prev = ds"),
                              "import builtins\nbuiltins.abs = lambda x: 0.0\n",
                              lambda t: t.replace("CHECK_TOLERANCE, CHECK_FLOOR"
                                                  " = 1e-6", "CHECK_TOLERANCE"
                                                  ", CHECK_FLOOR = 2.0")),
                   "FAIL", "builtins.abs"),
    "inside.py": (submission(ANSWER.replace(RIGHT, "ds_prev = ds\n        "
                                            "globals()['CHECK_TOLERANCE'] = "
                                            "2.0")), "FAIL", "globals"),
    "nothing.py": (handout().replace("    def step_backward(self, dh_out, "
                                     "d_next", "    def backward(self, dh_out,"
                                     " d_next"), "MISSING", None),
    "unparsable.py": (submission(ANSWER.replace("dpre = di_raw",
                                                "dpre = (di_raw")), "MISSING",
                      None),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """All eight graded once, in a folder of their own, with a 2 s limit."""
    folder = tmp_path_factory.mktemp("class")
    for name, (text, _, _) in SUBMISSIONS.items():
        write(folder, name, text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rnn, "GRADE_SECONDS", 2)     # the endless loop's cost
        result = run_main(folder, "--grade", "lstm", *SUBMISSIONS,
                          "--seed", "7")
    with open(folder / "grades.csv", encoding="utf-8", newline="") as f:
        rows = {row["file"]: row for row in csv.DictReader(f)}
    return folder, result, rows


def test_every_submission_gets_its_verdict(graded):
    _, result, rows = graded
    assert result.returncode == 0, result.stderr
    assert {name: rows[name]["verdict"] for name in SUBMISSIONS} == {
        name: verdict for name, (_, verdict, _) in SUBMISSIONS.items()}


def test_tampering_is_named_and_changes_no_verdict(graded):
    # the tolerance edited at the top, builtins.abs replaced, globals()
    # written inside the function: all named, none believed
    _, _, rows = graded
    assert "CHECK_TOLERANCE" in rows["outside.py"]["definitions changed"]
    assert "builtins.abs" in rows["outside.py"]["definitions changed"]
    assert rows["inside.py"]["names flagged"] == "globals"
    assert rows["right.py"]["definitions changed"] == ""   # only the body
    for name in ("outside.py", "inside.py", "subtle.py"):
        assert float(rows[name]["worst error"]) > 0.1      # ds_prev = ds


def test_what_went_wrong_names_the_wrong_outputs(graded):
    # ds_prev = ds: each step's da and dWh are right, what it passes back
    # is not, and so are the chunk's gradients
    _, _, rows = graded
    why = rows["subtle.py"]["what went wrong"]
    assert why.startswith("wrong: d_prev ") and "da " not in why
    assert "dU " in why and "dW " in why
    assert rows["right.py"]["what went wrong"] == ""
    assert rows["copied.py"]["what went wrong"].startswith(
        "the answer itself")               # a handout of the wrong cell too


def test_a_pass_is_exact_and_a_crash_names_the_students_line(graded):
    _, _, rows = graded
    assert float(rows["right.py"]["worst error"]) <= 1e-12  # d·f = f·d
    why = rows["crash.py"]["what went wrong"]
    assert why.startswith("IndexError: list index out of range (line ")
    assert "ds_prev = [ds[k] * f[k + 1]" in why
    assert "no LSTMCell.step_backward" in rows["nothing.py"]["what went wrong"]
    assert rows["unparsable.py"]["what went wrong"].startswith(
        "does not parse")
    assert rows["endless.py"]["what went wrong"] == "over 2 s"


def test_the_table_says_the_seed_and_an_earlier_csv_is_kept(graded):
    folder, result, _ = graded
    assert "seed 7 (--seed 7 grades on the same problems again)" in \
        result.stdout
    with open(folder / "grades.csv", encoding="utf-8", newline="") as f:
        assert {row["seed"] for row in csv.DictReader(f)} == {"7"}
    before = (folder / "grades.csv").read_bytes()
    again = run_main(folder, "--grade", "lstm", "right.py", "--seed", "7")
    assert again.returncode == 0, again.stderr
    assert (folder / "grades.old.csv").read_bytes() == before
    assert again.stdout.splitlines()[-1] == (
        "wrote grades.csv (the earlier one is now grades.old.csv)")


def test_bad_grade_commands_are_one_error_line(tmp_path):
    write(tmp_path, "a.py", "x = 1\n")
    assert_error(run_main(tmp_path, "--grade", "lstn", "a.py"), "'lstn a.py'")
    assert_error(run_main(tmp_path, "--grade", "lstm"), "'lstm'")
    # a file that is not there, or a folder, is a row of its own
    (tmp_path / "class").mkdir()
    result = run_main(tmp_path, "--grade", "gru", "nope.py", "class")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "grades.csv", encoding="utf-8", newline="") as f:
        rows = {row["file"]: row for row in csv.DictReader(f)}
    assert rows["nope.py"]["verdict"] == rows["class"]["verdict"] == "MISSING"
    assert "No such file" in rows["nope.py"]["what went wrong"]
    assert rows["class"]["what went wrong"].startswith("cannot read it")


def test_grading_from_the_handout_is_refused(tmp_path, monkeypatch):
    # the handout's own step_backward raises: no reference to grade with
    monkeypatch.setattr(rnn.LSTMCell, "step_backward",
                        lambda *args: 1 / 0)
    write(tmp_path, "a.py", submission(ANSWER))
    assert_error(run_main(tmp_path, "--grade", "lstm", "a.py"),
                 "own LSTMCell.step_backward does not run",
                 "original, unedited copy")
