"""Where coursework runs: the file pasted into a notebook cell, %run with
flags, and a user's own text with no flag but --data."""

import os
import re
import sys
import types

import pytest

import rnn_from_scratch as rnn
from helpers import SCRIPT, STORY, TINY, assert_error, write
from helpers import run_main as run_here

KERNEL_ARGV = ["/usr/lib/python3/ipykernel_launcher.py", "-f",
               "/root/.local/share/jupyter/runtime/kernel-1234.json"]


@pytest.fixture
def fake_ipython(monkeypatch):
    """As in a Jupyter kernel: IPython loaded, with a shell running."""
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: "a shell"
    monkeypatch.setitem(sys.modules, "IPython", ipython)


def test_importing_ipython_is_not_running_in_it(monkeypatch):
    # pytest, or a user's script, may import IPython without a shell
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: None
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setattr(sys, "argv", ["x.py", "--cell", "lstm"])
    assert not rnn.in_ipython() and rnn.command_line() == ["--cell", "lstm"]


def test_a_pasted_cell_ignores_the_kernels_argv(fake_ipython, monkeypatch):
    # pasted into a cell, the file's globals have no __file__
    monkeypatch.setattr(sys, "argv", KERNEL_ARGV)
    monkeypatch.delitem(rnn.__dict__, "__file__")
    assert rnn.command_line() == []


def test_percent_run_keeps_its_flags(fake_ipython, monkeypatch):
    # %run rnn_from_scratch.py --flags: sys.argv[0] is the script itself
    monkeypatch.setattr(sys, "argv", ["rnn_from_scratch.py", "--cell", "gru"])
    assert rnn.command_line() == ["--cell", "gru"]


def test_outside_a_notebook_the_command_line_is_used(monkeypatch):
    # a terminal: the flags typed after the file
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setattr(sys, "argv", ["x.py", "--hidden-size", "4"])
    assert rnn.command_line() == ["--hidden-size", "4"]


def test_help_returns_instead_of_raising_systemexit(capsys):
    # argparse's SystemExit would stop a notebook cell with a traceback
    assert rnn.main(["--help"]) == 0
    assert "--cell CELL" in capsys.readouterr().out


def test_the_resume_command_fits_where_it_runs(fake_ipython, monkeypatch):
    # main([...]) in a notebook; the command as typed in a terminal
    assert rnn.resume_command(["--cell", "gru"]) == \
        "main(['--cell', 'gru', '--resume'])"
    monkeypatch.delitem(sys.modules, "IPython")
    monkeypatch.setattr(sys, "argv", ["rnn_from_scratch.py"])
    monkeypatch.setattr(sys, "orig_argv", ["python", "rnn_from_scratch.py"],
                        raising=False)             # as the user typed it
    assert rnn.resume_command(["--resume", "--max-iterations", "9"]) == \
        "python rnn_from_scratch.py --max-iterations 9 --resume"


# --- your own text --------------------------------------------------------------

def test_lower_case_text_trains_with_no_flag_but_data(tmp_path):
    # PRIME_TEXT's capital O is not in the data: the default gives way to
    # the data's first word, with one notice line
    write(tmp_path, "notes.txt", STORY.lower())
    result = run_here(tmp_path, "--data", "notes.txt", *TINY[:6],
                      "--sample-length", "20")
    assert result.returncode == 0, result.stderr
    notices = [l for l in result.stdout.splitlines() if l.startswith("notice:")]
    assert len(notices) == 1 and "'O'" in notices[0] and "'once'" in notices[0]
    assert "\nonce" in result.stdout                     # samples start there


def test_an_explicit_prime_is_still_checked(tmp_path):
    # only PRIME_TEXT's default gives way; a typed prime is the user's
    write(tmp_path, "notes.txt", STORY.lower())
    assert_error(run_here(tmp_path, "--data", "notes.txt", "--prime-text",
                          "Once"), "--prime-text", "'O'", "notes.txt")


def test_text_without_spaces_primes_with_its_start(tmp_path):
    # no first word to take: the first 20 characters instead
    write(tmp_path, "digits.txt", "0123456789" * 50)
    result = run_here(tmp_path, "--data", "digits.txt", *TINY[:6],
                      "--sample-length", "5")
    assert result.returncode == 0, result.stderr
    assert "'01234567890123456789'" in result.stdout     # first 20 chars


# --- a real notebook kernel -------------------------------------------------------

def pasted_cell():
    """The whole file as one cell, with small constants, as a student would
    paste and edit it."""
    with open(SCRIPT, encoding="utf-8") as f:
        source = f.read()
    for name, value in [("HIDDEN_SIZE", "8"), ("MAX_ITERATIONS", "40"),
                        ("SAMPLE_EVERY", "20"), ("LOG_EVERY", "10"),
                        ("SAMPLE_LENGTH", "30")]:
        source, count = re.subn(rf"^{name} = \S+", f"{name} = {value}",
                                source, flags=re.M)
        assert count == 1, name
    return source


@pytest.fixture(scope="module")
def kernel():
    """One real IPython kernel (ipykernel), as Jupyter runs, for the
    module: (manager, client). Starting one takes over a second."""
    pytest.importorskip("ipykernel", reason="pip install ipykernel")
    manager_module = pytest.importorskip("jupyter_client.manager",
                                         reason="pip install ipykernel")
    manager, client = manager_module.start_new_kernel(kernel_name="python3")
    yield manager, client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def execute(kernel, code, when_printed=lambda printed: None):
    """Run code in the kernel as a notebook cell, which must not raise:
    its outputs, as (message type, content), until the kernel is idle
    again; when_printed(all text printed so far) after each piece."""
    _, client = kernel
    request, outputs, printed = client.execute(code), [], ""
    while True:
        message = client.get_iopub_msg(timeout=60)
        if message["parent_header"].get("msg_id") != request:
            continue
        kind, content = message["msg_type"], message["content"]
        assert kind != "error", content          # a traceback in the cell
        if kind == "status":
            if content["execution_state"] == "idle":
                return outputs
            continue
        outputs.append((kind, content))
        if kind == "stream":
            printed += content["text"]
            when_printed(printed)


def text_of(outputs, name=None):
    """What the cell printed, to stdout and stderr, or to `name` only."""
    return "".join(content["text"] for kind, content in outputs
                   if kind == "stream" and name in (None, content["name"]))


def test_pasted_into_a_notebook_cell_it_trains(kernel, tmp_path):
    # the whole file as one cell trains, shows loss.svg inline, and a
    # mistake in the next cell is one error line and status 2, no SystemExit
    write(tmp_path, "data.txt", STORY)
    execute(kernel, f"import os; os.chdir({str(tmp_path)!r})")
    trained = execute(kernel, pasted_cell())
    failed = execute(kernel, 'status = main(["--hidden-size", "0"])\n'
                             'print("status", status)')
    assert "SystemExit" not in text_of(trained) + text_of(failed)
    assert os.path.exists(tmp_path / "model.json")
    assert "iter 40/40" in text_of(trained)
    assert "--- sample at temperature" in text_of(trained)
    assert any("image/svg+xml" in content.get("data", {})
               for kind, content in trained if kind == "display_data")
    assert text_of(failed, "stderr") == (
        "error: --hidden-size must be a whole number >= 1, got 0\n")
    assert "status 2" in text_of(failed, "stdout")


def test_interrupting_the_kernel_saves_a_checkpoint(kernel, tmp_path):
    # "interrupt kernel" sends SIGINT, as Ctrl-C does in a terminal
    manager, _ = kernel
    write(tmp_path, "data.txt", STORY)
    source = pasted_cell().replace("MAX_ITERATIONS = 40",
                                   "MAX_ITERATIONS = 1000000")
    interrupted = []

    def interrupt(printed):
        if "iter " in printed and not interrupted:
            manager.interrupt_kernel()
            interrupted.append(True)

    execute(kernel, f"import os; os.chdir({str(tmp_path)!r})")
    outputs = execute(kernel, source, interrupt)
    assert "interrupted at iteration" in text_of(outputs)
    assert "main(['--resume'])" in text_of(outputs)
    assert os.path.exists(tmp_path / "model.json")


# --- in a browser tab: Pyodide, where sys.platform is "emscripten" ----------

def test_in_pyodide_the_hosts_argv_is_ignored(monkeypatch):
    # Pyodide's sys.argv is ['']: a pasted cell must not read it as flags
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setattr(sys, "platform", "emscripten")
    monkeypatch.setattr(sys, "argv", ["", "--not-ours"])
    monkeypatch.delitem(rnn.__dict__, "__file__")
    assert rnn.hosted() and rnn.command_line() == []
    assert rnn.resume_command(["--cell", "gru"]) == \
        "main(['--cell', 'gru', '--resume'])"


def test_training_runs_where_signals_cannot_be_set(tmp_path, monkeypatch,
                                                   capsys):
    # a browser tab or a thread: signal.signal fails; training goes on
    def refuse(*_):
        raise ValueError("signal only works in main thread")

    monkeypatch.setattr(rnn.signal, "signal", refuse)
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "data.txt", STORY)
    assert rnn.main(TINY) == 0
    assert "iter 20/20" in capsys.readouterr().out


def test_jupyterlite_shows_the_loss_chart_inline(tmp_path, monkeypatch,
                                                 capsys):
    # JupyterLite's kernel runs IPython under Pyodide without ipykernel:
    # the chart still goes to IPython's display, as an SVG of loss.svg
    shown = []
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: "a shell"
    ipython.display = types.SimpleNamespace(
        SVG=lambda filename: ("svg", filename), display=shown.append)
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys, "platform", "emscripten")
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "data.txt", STORY)
    assert rnn.main(TINY) == 0
    assert shown == [("svg", "loss.svg")]


def test_the_missing_model_hint_fits_where_it_runs(fake_ipython, tmp_path,
                                                   monkeypatch, capsys):
    # in a notebook or a browser tab there is no `python` command to type
    monkeypatch.chdir(tmp_path)
    assert rnn.main(["--generate", "Once"]) == 2
    assert capsys.readouterr().err.endswith(
        "train one first with: main(['--model', 'model.json'])\n")
