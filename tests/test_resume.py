"""Ctrl-C saves a checkpoint; --resume continues exactly where it stopped."""

import json
import signal
import subprocess
import sys
import time

from helpers import SCRIPT, STORY, TINY, assert_error, model_bytes, run_main, write


def model_file(folder):
    with open(folder / "model.json", encoding="utf-8") as f:
        return json.load(f)


def trained(folder, *flags):
    """folder with STORY as data.txt and a TINY model trained in it."""
    folder.mkdir(exist_ok=True)
    write(folder, "data.txt", STORY)
    result = run_main(folder, *TINY, *flags)
    assert result.returncode == 0, result.stderr
    return folder


def test_resume_gives_bit_identical_weights(tmp_path):
    # exact: 30 iterations, then resume to 60 == 60 straight, to the last
    # bit (the same arithmetic in the same order). At 30 the run stands 8
    # characters before the end of the 308 it trains on, so the resumed
    # run takes the short last chunk, then wraps and resets the state
    straight = trained(tmp_path / "straight", "--max-iterations", "60")
    resumed = trained(tmp_path / "resumed", "--max-iterations", "30")
    assert model_file(resumed)["position"] == 300
    result = run_main(resumed, *TINY, "--max-iterations", "60", "--resume")
    assert result.returncode == 0, result.stderr
    a, b = model_file(straight), model_file(resumed)
    for key in ("params", "memory", "iteration", "position", "h", "smooth_loss",
                "history"):
        assert a[key] == b[key], key
    assert model_bytes(straight / "model.json") == model_bytes(resumed / "model.json")


def test_resume_counts_on_from_the_saved_iteration(tmp_path):
    trained(tmp_path)                                          # 20 iterations
    result = run_main(tmp_path, *TINY, "--max-iterations", "30", "--resume")
    assert result.returncode == 0, result.stderr
    lines = [l for l in result.stdout.splitlines() if l.startswith("iter ")]
    assert lines[0].startswith("iter 25/30 ") and lines[-1].startswith("iter 30/30 ")
    assert "\nresuming model.json at iteration 20: " in result.stdout


def test_resume_on_data_with_other_characters_is_refused(tmp_path):
    trained(tmp_path)
    write(tmp_path, "data.txt", STORY + "Quiz!")
    assert_error(run_main(tmp_path, *TINY, "--max-iterations", "30",
                          "--resume"),
                 "data.txt", "model.json", "'Q'", "'!'", "'z'")


def test_resume_past_the_last_iteration_is_refused(tmp_path):
    trained(tmp_path)
    assert_error(run_main(tmp_path, *TINY, "--resume"),
                 "already at iteration 20", "--max-iterations")


def test_ctrl_c_saves_a_checkpoint_that_resumes(tmp_path):
    # a real process: SIGINT goes to it, not to pytest
    write(tmp_path, "data.txt", STORY)
    process = subprocess.Popen(
        [sys.executable, SCRIPT, *TINY, "--max-iterations", "1000000",
         "--log-every", "50", "--sample-every", "1000000"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:                    # wait until training runs
        if line.startswith("iter "):
            break
    process.send_signal(signal.SIGINT)
    start = time.time()
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert time.time() - start < 5                 # one iteration, then save
    assert "--resume" in stderr and "Traceback" not in stderr
    stopped_at = model_file(tmp_path)["iteration"]
    assert stopped_at >= 50
    result = run_main(tmp_path, *TINY, "--max-iterations",
                      str(stopped_at + 10), "--resume")
    assert result.returncode == 0, result.stderr
    assert model_file(tmp_path)["iteration"] == stopped_at + 10
