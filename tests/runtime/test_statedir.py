"""The per-camera state directory: one daemon per camera (an flock held for the process's life)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from edgecam.errors import EdgecamError, UsageError
from edgecam.runtime.statedir import StateDirInUse, camera_state_dir, claim_state_dir


def test_each_camera_gets_its_own_directory(tmp_path):
    assert camera_state_dir(tmp_path, "Front-Door") == tmp_path / "front_door"
    assert camera_state_dir(tmp_path, "front_door") == camera_state_dir(tmp_path, "Front-Door")  # one HA device
    assert camera_state_dir(tmp_path, "back") != camera_state_dir(tmp_path, "front")


@pytest.mark.slow  # a second process holds the lock
def test_the_lock_keeps_a_second_holder_out_and_names_the_first(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from edgecam.runtime.statedir import claim_state_dir
        with claim_state_dir({str(tmp_path)!r}, "Front-Door") as d:
            print(d, flush=True)
            sys.stdin.readline()
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        assert holder.stdout.readline().strip() == str(tmp_path / "front_door")
        with pytest.raises(StateDirInUse) as err:
            with claim_state_dir(tmp_path, "front_door"):
                pass
        message = str(err.value)
        assert isinstance(err.value, UsageError) and err.value.exit_code == 2
        assert f"pid {holder.pid}" in message and "[camera] id or [output] state_dir" in message
        assert "\n" not in message
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(30)
    with claim_state_dir(tmp_path, "front_door") as d:  # released with the holder
        assert (d / "lock").read_text().strip() == str(os.getpid())


def test_old_single_camera_layout_is_adopted(tmp_path):
    (tmp_path / "spool.sqlite3").write_bytes(b"x")
    (tmp_path / "discovery.json").write_text("{}")
    with claim_state_dir(tmp_path, "yard") as d:
        assert (d / "spool.sqlite3").read_bytes() == b"x" and (d / "discovery.json").exists()
    assert not (tmp_path / "spool.sqlite3").exists()


def test_an_unusable_state_directory_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(EdgecamError, match=r"^cannot use the state directory .*make \[output\] state_dir a writable"):
        with claim_state_dir(blocker, "yard"):
            pass
