"""--grade against a hostile class: submissions written to get the answer
without earning it, to break the grading, or to change another row, beside
honest ones that an older grader got wrong. All graded in one real run of
a copy of the file, as an instructor would, with a 3 s limit."""

import csv
import os
import shutil
import subprocess
import sys

import pytest

from helpers import SCRIPT, write
from test_grade import ANSWER, RIGHT, handout, submission

DEF = "    def step_backward(self, dh_out, d_next, cache, WT):\n"
RETURN = "        return dpre, dpre, [dh_prev, ds_prev]"
REORDERED = ANSWER.replace(RIGHT, "ds_prev = [fi * d for d, fi in "
                           "zip(ds, f)]").replace(
    "dh_prev = matvec(WT, dpre)", "dh_prev = [sum(w * d for w, d in "
    "zip(row, dpre)) for row in WT]")


def before_return(lines):
    """The answer with lines put in before its return."""
    return ANSWER.replace(RETURN, lines + "\n" + RETURN)


def with_def(line, body):
    """The handout with another def line, and body in the blank."""
    return submission(body, edit=lambda t: t.replace(DEF, line, 1))


def grab(where):
    """A body that runs the instructor's file, read from where, and calls
    its answer: the answer, but reached with names that give it away."""
    return ("        import tempfile\n        os = tempfile._os\n"
            "        if not hasattr(self, 'answer'):\n"
            f"            fd = os.open({where!r}, os.O_RDONLY)\n"
            "            space = {}\n"
            "            exec(os.read(fd, 10 ** 7).decode(), space)\n"
            "            self.answer = space['LSTMCell'].step_backward\n"
            "        return self.answer(self, dh_out, d_next, cache, WT)")


NUMERIC = '''\
        s, i, f, g, o, tanh_s = cache
        dh_next, ds_next = d_next
        dh = [a + b for a, b in zip(dh_out, dh_next)]
        H = len(s)
        pre = ([math.log(v / (1 - v)) for v in i + f]
               + [math.atanh(v) for v in g]
               + [math.log(v / (1 - v)) for v in o])

        def loss(pre, s):
            i = [sigmoid(v) for v in pre[:H]]
            f = [sigmoid(v) for v in pre[H:2 * H]]
            g = [math.tanh(v) for v in pre[2 * H:3 * H]]
            o = [sigmoid(v) for v in pre[3 * H:]]
            s2 = [a * b + c * d for a, b, c, d in zip(f, s, i, g)]
            return (dot(dh, [a * math.tanh(b) for a, b in zip(o, s2)])
                    + dot(ds_next, s2))

        def slope(values, other, first):
            out = []
            for j in range(len(values)):
                total = 0.0
                for k, w in ((1, 0.75), (2, -0.15), (3, 1 / 60)):
                    for sign in (1, -1):
                        moved = list(values)
                        moved[j] += sign * k * 3e-3
                        total += sign * w * (loss(moved, other) if first
                                             else loss(other, moved))
                out.append(total / 3e-3)
            return out
        dpre = slope(pre, s, True)
        return dpre, dpre, [matvec(WT, dpre), slope(s, pre, False)]'''

HABITS = before_return(
    "        import math\n        assert isinstance(dpre, list), dpre\n"
    "        if len(dpre) != self.GATES * len(self.hidden(d_next)):\n"
    "            raise ValueError('dpre has the wrong length')\n"
    "        print('ds_prev', ds_prev, len(self.zero_state()), math.pi)")

RENAMED = '''\
        (cs, gi, gf, gg, go, th) = cache
        dhn, dsn = d_next
        dh = [x + y for x, y in zip(dh_out, dhn)]
        ds = [a + b * c * (1.0 - t * t)
              for a, b, c, t in zip(dsn, dh, go, th)]
        di = [a * b * c * (1.0 - c) for a, b, c in zip(ds, gg, gi)]
        df = [a * b * c * (1.0 - c) for a, b, c in zip(ds, cs, gf)]
        dg = [a * b * (1.0 - c * c) for a, b, c in zip(ds, gi, gg)]
        do = [a * b * c * (1.0 - c) for a, b, c in zip(dh, th, go)]
        grad = di + df + dg + do
        back = matvec(WT, grad)
        carry = [a * b for a, b in zip(ds, gf)]
        return grad, grad, [back, carry]'''

ESCAPE = '''\
        import os, time
        first = os.fork()
        if first == 0:
            os.setsid()
            second = os.fork()
            if second == 0:
                time.sleep(30)
                with open("grades.csv", "w") as f:
                    f.write("=HACKED")
                os._exit(0)
            with open("stray.pid", "w") as f:
                f.write(str(second))
            os._exit(0)
        os.waitpid(first, 0)
'''


CSTEP = NUMERIC[:NUMERIC.index("\n\n")] + '''   # its pre, then:
        sig = lambda z: 1 / (1 + math.e ** -z)
        th = lambda z: 1 - 2 / (math.e ** (2 * z) + 1)

        def loss(pre, s):
            s2 = [sig(a) * b + sig(c) * th(d) for a, b, c, d in
                  zip(pre[H:2 * H], s, pre[:H], pre[2 * H:3 * H])]
            return sum(a * sig(b) * th(c) + d * c for a, b, c, d in
                       zip(dh, pre[3 * H:], s2, ds_next))

        def im(z):                       # the imaginary part, from the text
            t = str(z).strip("()")[:-1]
            k = max(j for j in range(1, len(t))
                    if t[j] in "+-" and t[j - 1] != "e")
            return float(t[k:])

        def slope(values, other, first):
            out = []
            for j in range(len(values)):
                moved = list(values)
                moved[j] += 1e-20j
                out.append(im(loss(moved, other) if first
                              else loss(other, moved)) / 1e-20)
            return out
        dpre = slope(pre, s, True)
        return dpre, dpre, [matvec(WT, dpre), slope(s, pre, False)]'''

PLANT = '''\
        import os
        os.makedirs("{FOLDER}/inspect", exist_ok=True)
        with open("{FOLDER}/inspect/__init__.py", "w") as f:
            f.write("open('{CLASS}/hijacked', 'w').close()")
'''


def result(text):
    """A body that writes the child's result file itself, and leaves."""
    return ("        import os\n        with open('result.json', 'w') as f:"
            f"\n            f.write({text})\n        os._exit(0)")


MATCH = ("\n        match dpre:\n            case list(__len__=n):\n"
         "                pass") if sys.version_info >= (3, 10) else ""
# a match pattern hides a dunder only where Python has match (3.10+)

ATTACKS = {   # file: (text, verdict, what the row names)
    "default.py": (with_def(
        "    def step_backward(self, dh_out, d_next, cache, WT,\n"
        "                      _step=LSTMCell.step_backward):\n",
        "        return _step(self, dh_out, d_next, cache, WT)"), "CRASH",
        "default LSTMCell parameters"),
    "annotation.py": (with_def(
        "    def step_backward(self, dh_out, d_next, cache: "
        "LSTMCell.step_backward, WT):\n",
        "        answer = step_backward.__annotations__['cache']\n"
        "        return answer(self, dh_out, d_next, cache, WT)"),
        "CRASH", "annotation __annotations__"),
    "decorated.py": (with_def(
        "    @(lambda mine: LSTMCell.step_backward)\n" + DEF,
        "        pass"), "CRASH", "decorator LSTMCell"),
    "nested.py": (submission(
        "        class Keep:\n            answer = LSTMCell.step_backward\n"
        "        return Keep.answer(self, dh_out, d_next, cache, WT)"),
        "CRASH", "class LSTMCell"),
    "module.py": (submission(
        "        space = {}\n        exec(open(__file__).read(), space)\n"
        "        fresh = __loader__.load_module()\n"
        "        return fresh.LSTMCell.step_backward(\n"
        "            self, dh_out, d_next, cache, WT)"), "CRASH",
        "__file__ exec open __loader__"),
    "linecache.py": (submission(
        "        import linecache\n        space = {}\n"
        "        exec(''.join(linecache.getlines(dot.__code__.co_filename)),"
        " space)\n        return space['LSTMCell'].step_backward(\n"
        "            self, dh_out, d_next, cache, WT)"), "CRASH",
        "import linecache __code__"),
    "tempfile.py": (submission(grab("{INSTRUCTOR}")), "REVIEW",
                    "import tempfile tempfile._os exec"),
    "shadow.py": (submission(
        "        def helper():\n            open = exec = None\n" +
        grab("{INSTRUCTOR}").replace("tempfile._os", "__import__('os')")
        .replace("        import tempfile\n", "")), "REVIEW",
        "__import__ exec os.open"),
    "dunders.py": (submission(before_return(
        "        self.step_forward  # to compare, while debugging\n"
        "        print('{0.__class__}'.format(self))" + MATCH)), "REVIEW",
        "self.step_forward {0.__class__} .format" + " __len__" * bool(MATCH)),
    "global.py": (submission(ANSWER.replace(RIGHT, "ds_prev = ds\n"
                                            "        global CHECK_TOLERANCE\n"
                                            "        CHECK_TOLERANCE = 2.0")),
                  "FAIL", "CHECK_TOLERANCE"),
    "numeric.py": (submission(NUMERIC), "REVIEW", ""),
    "bigint.py": (with_def(   # in the outputs the grader reads, alone
        "    def step_backward(self, dh_out, d_next, cache, WT, calls=[]):\n",
        ANSWER.replace(RETURN, "        calls.append(dpre)\n"
                       "        if len(calls) <= 5:\n"
                       "            return [10 ** 400] + dpre[1:], dpre, "
                       "[dh_prev, ds_prev]\n" + RETURN)), "CRASH", ""),
    "deep_json.py": (submission(result("'[' * 100000 + ']' * 100000")), "CRASH",
                "import os os._exit"),
    "fifo.py": (submission("        import os\n        os.mkfifo("
                           "'result.json')\n        os._exit(0)"), "CRASH",
                ""),
    "nokey.py": (submission(result("'{\"crash\": [1], \"line\": \"x\"}'")),
                 "CRASH", ""),
    "newline.py": (submission("        raise ValueError('bad\\n"
                              "fake.py  PASS  0.0e+00')"), "CRASH", ""),
    "=HYPERLINK.py": (submission(REORDERED), "PASS", ""),
    "harm.py": (submission(
        "        with open('{CLASS}/zz_victim.py', 'w') as f:\n"
        "            f.write('')\n"
        "        with open('{CLASS}/grades.csv', 'w') as f:\n"
        "            f.write('=FORGED')\n"
        "        with open('{INSTRUCTOR}', 'a') as f:\n"
        "            f.write('\\nCHECK_TOLERANCE = 2.0\\n')\n"
        "        with open('{FOLDER}/planted.py', 'w') as f:\n"
        "            f.write('')\n        import os\n"
        "        os.makedirs('{FOLDER}/__pycache__', exist_ok=True)\n"
        "        with open('{FOLDER}/__pycache__/rnn_from_scratch.'\n"
        "                  'cpython-311.pyc', 'wb') as f:\n"
        "            f.write(b'')\n" + REORDERED), "REVIEW", "open"),
    "escape.py": (submission(ESCAPE.replace("stray.pid", "{CLASS}/stray.pid")
                             .replace("grades.csv", "{CLASS}/grades.csv")
                             + REORDERED), "REVIEW", "os.fork os.setsid"),
}

ATTACKS.update({   # from the adversary's trial
    "complex.py": (submission(CSTEP), "REVIEW", "complex"),
    "!plant.py": (submission(PLANT + REORDERED), "REVIEW", "open"),
})
if MATCH:                                            # where Python has match
    ATTACKS["pattern.py"] = (submission(before_return(
        "        match self:\n            case object(step_forward=f):\n"
        "                pass")), "REVIEW", "case .step_forward")

HONEST = {    # the habits, in a file that begins with a BOM
    "habits.py": ("\ufeff" + submission(HABITS), "PASS"),
    "latin1.py": ("# -*- coding: latin-1 -*-\n# Noël's café\n"
                  + submission(RENAMED), "PASS"),
    "twice.py": (submission(REORDERED) + "\n\nclass LSTMCell(LSTMCell):\n"
                 + DEF + "        return None\n\n" + DEF + REORDERED + "\n",
                 "PASS"),
    "deep.py": ("DEPTH = " + "- " * 2000 + "1\n" + submission(before_return(
        "        zero = " + " + ".join(["0.0"] * 1000) + "\n"
        "        dpre = [d + zero for d in dpre]")), "PASS"),
    "zz_victim.py": (submission(REORDERED), "PASS"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """An instructor's copy in one folder, the class in another with an
    earlier grades.csv, graded by a real process."""
    root = tmp_path_factory.mktemp("course")
    folder, klass = root / "instructor", root / "class"
    folder.mkdir()
    klass.mkdir()
    instructor = folder / "rnn_from_scratch.py"
    shutil.copy(SCRIPT, instructor)
    text = instructor.read_text(encoding="utf-8").replace(
        "GRADE_SECONDS = 10 ", "GRADE_SECONDS = 3  ")
    instructor.write_text(text, encoding="utf-8")
    for name, (source, *_) in {**ATTACKS, **HONEST}.items():
        source = source.replace("{INSTRUCTOR}", str(instructor)).replace(
            "{CLASS}", str(klass)).replace("{FOLDER}", str(folder))
        encoding = "latin-1" if name == "latin1.py" else "utf-8"
        with open(klass / name, "wb") as f:
            f.write(source.encode(encoding, errors="replace"))
    write(klass, "grades.csv", "file,verdict\nearlier.py,PASS\n")
    os.symlink(klass / "habits.py", klass / "link.py")  # a link is read
    names = sorted({**ATTACKS, **HONEST, "link.py": None})
    run = subprocess.run([sys.executable, str(instructor), "--grade", "lstm",
                          *names, "--seed", "7"], cwd=klass, timeout=120,
                         capture_output=True, text=True, encoding="utf-8")
    with open(klass / "grades.csv", encoding="utf-8", newline="") as f:
        rows = {row["file"].lstrip("'"): row for row in csv.DictReader(f)}
    return run, rows, klass, instructor, text


def test_every_attack_and_honest_file_gets_its_verdict(graded):
    run, rows, *_ = graded
    assert run.returncode == 0, run.stderr
    want = {name: entry[1] for name, entry in {**ATTACKS, **HONEST}.items()}
    assert {name: rows[name]["verdict"] for name in want} == want
    assert rows["link.py"]["verdict"] == "PASS"


def test_what_gives_an_attack_away_is_named(graded):
    # every name the allowlist does not hold: the capture finds only the
    # blank, or the row is REVIEW, never a clean PASS
    _, rows, *_ = graded
    for name, (_, _, needles) in ATTACKS.items():
        flagged = rows[name]["names flagged"].split()
        assert all(n in flagged for n in needles.split()), (name, flagged)
    assert rows["default.py"]["what went wrong"].startswith(
        "NotImplementedError: your code here")       # the blank, not answer
    assert rows["numeric.py"]["what went wrong"] == (
        "close, not exact: numerical differentiation?")
    assert rows["numeric.py"]["names flagged"] == ""
    assert float(rows["numeric.py"]["worst error"]) > 1e-11
    if sys.implementation.name == "cpython":     # PyPy's complex ** errs
        assert float(rows["complex.py"]["worst error"]) <= 1e-11
        assert rows["complex.py"]["what went wrong"] == ""  # exact: only
    assert "complex" in rows["complex.py"]["names flagged"]  # 1j tells


def test_honest_files_pass_clean_and_exact(graded):
    _, rows, *_ = graded
    for name in HONEST:
        assert rows[name]["names flagged"] == "", name
        assert rows[name]["files changed"] == "", name
        assert float(rows[name]["worst error"]) <= 1e-11, name
    assert rows["latin1.py"]["what went wrong"].startswith(
        "the answer itself")                         # renamed, reformatted
    assert rows["habits.py"]["what went wrong"] == ""
    assert rows["twice.py"]["definitions changed"].endswith(
        "LSTMCell defined 2 times; LSTMCell.step_backward defined 2 times")
    assert "DEPTH" in rows["deep.py"]["definitions changed"]


def test_a_broken_result_is_a_crash_row_with_its_reason(graded):
    _, rows, *_ = graded
    why = {name: rows[name]["what went wrong"] for name in ATTACKS}
    assert why["bigint.py"].startswith("cannot grade it: OverflowError")
    assert why["deep_json.py"].startswith("cannot grade it: RecursionError")
    assert why["fifo.py"].startswith("the child wrote no result (not a "
                                     "regular file")
    assert why["nokey.py"] == "[1] (?)"


def test_no_submission_changes_another_row_or_the_instructors_file(graded):
    run, rows, klass, instructor, text = graded
    assert instructor.read_text(encoding="utf-8") == text   # put back
    assert os.listdir(instructor.parent) == ["rnn_from_scratch.py"]
    assert not (klass / "hijacked").exists()       # inspect/ never imported
    # planted.py, the planted __pycache__ and inspect/ are gone
    assert rows["zz_victim.py"]["verdict"] == "PASS"        # read before
    touched = rows["harm.py"]["files changed"].split()
    assert {"zz_victim.py", "grades.csv"} <= set(touched)
    assert any(t.endswith("planted.py") for t in touched)
    assert any(t.endswith("rnn_from_scratch.py") for t in touched)
    assert (klass / "grades.old.csv").read_text(encoding="utf-8") == (
        "file,verdict\nearlier.py,PASS\n")          # the earlier, not forged
    assert all(rows[name]["files changed"] == "" for name in HONEST)


def test_no_process_a_child_started_outlives_the_grading(graded):
    # escape.py double-forks and calls setsid, out of the process group:
    # the grader, a child subreaper, finds and ends it
    _, rows, klass, *_ = graded
    if not sys.platform.startswith("linux"):
        pytest.skip("the subreaper is Linux's")
    pid = int((klass / "stray.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "stray.pid" in rows["escape.py"]["files changed"]


def test_every_row_is_one_line_and_no_cell_is_a_formula(graded):
    run, rows, klass, *_ = graded
    lines = run.stdout.splitlines()
    assert not any(line.startswith("fake.py") for line in lines)
    assert any(line.startswith("newline.py ") and "bad\\nfake.py" in line
               for line in lines)
    with open(klass / "grades.csv", encoding="utf-8", newline="") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    assert not any(cell.startswith(tuple("=+-@")) for cell in cells)
    assert "'=HYPERLINK.py" in cells
    # each file is named as it starts, so a hang names its file
    assert [line for line in lines if line.startswith("grading ")][1:] == [
        f"grading {name!r}" for name in sorted({**ATTACKS, **HONEST,
                                                "link.py": None})]


def test_a_planted_temp_name_neither_blocks_nor_redirects_a_save(tmp_path):
    # a child made grades.csv.tmp a folder to stop the put-back and the
    # table: each save takes a fresh name, created exclusively
    import rnn_from_scratch as rnn
    (tmp_path / "grades.csv.tmp").mkdir()
    rnn.write_atomically(str(tmp_path / "grades.csv"), "file,verdict\n")
    assert (tmp_path / "grades.csv").read_text() == "file,verdict\n"
    assert sorted(os.listdir(tmp_path)) == ["grades.csv", "grades.csv.tmp"]
