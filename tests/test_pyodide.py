"""The file under Pyodide (CPython compiled to WebAssembly, as in JupyterLite
and browser consoles), run by Node. Skipped unless `node` is on PATH and
PYODIDE_DIR names a folder where `npm install pyodide` was run; .ci/run
sets it up. One Pyodide session runs every scenario, for speed."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from helpers import SCRIPT, STORY, write
from helpers import run_main as run_here

PYODIDE_DIR = os.environ.get("PYODIDE_DIR", "")
FOUND = (shutil.which("node") and os.path.isfile(
    os.path.join(PYODIDE_DIR, "node_modules", "pyodide", "package.json")))
pytestmark = pytest.mark.skipif(
    not FOUND, reason="needs node and PYODIDE_DIR, a folder where "
    "`npm install pyodide` was run (bash .ci/run does it)")

# Node side: copy a folder into Pyodide's in-memory file system, run a
# Python file there, copy the in-memory folder back out to out/
RUNNER = r"""
import { createRequire } from "module";
import fs from "fs";
import path from "path";
const [pyodideDir, folder, script] = process.argv.slice(2);
const require = createRequire(path.join(pyodideDir, "package.json"));
const { loadPyodide } = require("pyodide");
const py = await loadPyodide();
const home = "/home/pyodide";
for (const name of fs.readdirSync(folder)) {
  const file = path.join(folder, name);
  if (fs.statSync(file).isFile()) {
    py.FS.writeFile(`${home}/${name}`, fs.readFileSync(file));
  }
}
py.runPython(`import os; os.chdir("${home}")`);
try {
  await py.runPythonAsync(fs.readFileSync(script, "utf8"));
} finally {
  fs.mkdirSync(path.join(folder, "out"));
  for (const name of py.FS.readdir(home)) {
    const file = `${home}/${name}`;
    if (py.FS.isFile(py.FS.stat(file).mode)) {
      fs.writeFileSync(path.join(folder, "out", name), py.FS.readFile(file));
    }
  }
}
"""

FLAGS = ["--hidden-size", "8", "--sequence-length", "10", "--max-iterations",
         "40", "--sample-every", "20", "--log-every", "10",
         "--sample-length", "20", "--seed", "3"]

# Python side, inside Pyodide: every scenario, results to results.json
SCENARIOS = r"""
import contextlib, io, json, sys
results = {"platform": sys.platform, "argv": sys.argv,
           "version": sys.version.split()[0]}


def captured(run):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = run()
        except SystemExit as e:
            status = f"SystemExit({e.code!r})"
    return {"status": status, "out": out.getvalue(), "err": err.getvalue()}


# 1. the file pasted into a cell, constants edited small, run as __main__
source = open("rnn_from_scratch.py", encoding="utf-8").read()
for old, new in [("HIDDEN_SIZE = 64", "HIDDEN_SIZE = 8"),
                 ("MAX_ITERATIONS = 12000", "MAX_ITERATIONS = 40"),
                 ("SAMPLE_EVERY = 2000", "SAMPLE_EVERY = 20"),
                 ("SAMPLE_LENGTH = 300", "SAMPLE_LENGTH = 20")]:
    assert old in source, old
    source = source.replace(old, new)
cell = {"__name__": "__main__"}
results["paste"] = captured(
    lambda: exec(compile(source, "<cell>", "exec"), cell))
main = cell["main"]
# 2. the views on the model the pasted cell trained
results["generate"] = captured(
    lambda: main(["--generate", "Once", "--sample-length", "20"]))
results["predict"] = captured(lambda: main(["--predict", "Once upon"]))
results["check"] = captured(lambda: main(["--check"]))
# 3. a mistake: one error line, status 2
results["typo"] = captured(lambda: main(["--hidden-sise", "8"]))
# 4. flags and seed as given to CPython, for the weight comparison
results["flags"] = captured(lambda: main(FLAGS + ["--model", "same.json"]))
with open("results.json", "w") as f:
    json.dump(results, f)
"""


@pytest.fixture(scope="module")
def pyodide_run(tmp_path_factory):
    """(results of every scenario, the folder Pyodide left behind)."""
    folder = tmp_path_factory.mktemp("pyodide")
    shutil.copy(SCRIPT, folder / "rnn_from_scratch.py")
    write(folder, "data.txt", STORY)
    write(folder, "runner.mjs", RUNNER)
    write(folder, "scenarios.py", f"FLAGS = {FLAGS!r}\n" + SCENARIOS)
    node = subprocess.run(
        ["node", str(folder / "runner.mjs"),
         os.path.join(PYODIDE_DIR, "node_modules", "pyodide"), str(folder),
         str(folder / "scenarios.py")],
        capture_output=True, text=True, timeout=300)
    assert node.returncode == 0, node.stdout[-2000:] + node.stderr[-2000:]
    out = folder / "out"
    return json.loads((out / "results.json").read_text()), out


def test_runs_as_webassembly(pyodide_run):
    # the scenarios ran in the browser's Python, not this one
    results, _ = pyodide_run
    assert results["platform"] == "emscripten"
    print("Pyodide's Python:", results["version"])


def test_pasted_cell_trains_writes_and_samples_without_systemexit(
        pyodide_run):
    # as in a JupyterLite cell: trains, writes every file, never exits
    results, out = pyodide_run
    paste = results["paste"]
    assert paste["status"] is None, paste          # no SystemExit escaped
    assert "iter 40/40" in paste["out"] and "sample at temperature" in (
        paste["out"])
    for name in ("model.json", "vocab.json", "config.json", "loss.svg"):
        assert (out / name).is_file(), name
    assert json.loads((out / "model.json").read_text())["iteration"] == 40


def test_generate_predict_and_check_return_zero(pyodide_run):
    # the views work on the model the pasted cell trained; --check passes
    results, _ = pyodide_run
    for name in ("generate", "predict", "check"):
        assert results[name]["status"] == 0, results[name]
    assert results["generate"]["out"].startswith("Once")
    assert "over 8 predictions" in results["predict"]["out"]
    assert "all passed: rnn, gru, lstm" in results["check"]["out"]


def test_bad_flag_gives_status_2_and_one_error_line(pyodide_run):
    # a mistake is reported as in a terminal, without SystemExit
    typo = pyodide_run[0]["typo"]
    assert typo["status"] == 2
    lines = typo["err"].splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "--hidden-sise" in lines[0]


def test_same_weights_as_cpython_to_1e_12(pyodide_run, tmp_path):
    # not bit-identical: Pyodide's 3.14 has math.sumprod, whose rounding
    # differs from sum(map(mul)) on CPython < 3.12 in the last bits of a dot
    results, out = pyodide_run
    assert results["flags"]["status"] == 0, results["flags"]
    write(tmp_path, "data.txt", STORY)
    cpython = run_here(tmp_path, *FLAGS, "--model", "same.json")
    assert cpython.returncode == 0, cpython.stderr
    ours = json.loads((tmp_path / "same.json").read_text())["params"]
    theirs = json.loads((out / "same.json").read_text())["params"]
    worst = 0.0
    for name in ours:
        rows = zip(ours[name], theirs[name])
        if name in ("b", "c"):
            rows = [(ours[name], theirs[name])]
        for a_row, b_row in rows:
            worst = max([worst] + [abs(a - b) for a, b in zip(a_row, b_row)])
    print(f"Python {sys.version.split()[0]} against Pyodide "
          f"{results['version']}: largest weight difference {worst:.1e}")
    assert worst <= 1e-12
