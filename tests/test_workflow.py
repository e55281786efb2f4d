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
