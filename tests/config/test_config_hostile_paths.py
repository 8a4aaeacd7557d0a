"""Hostile paths for the config file and the files it names: one line, exit 2, never a hang.

Each case runs ``edgecam check`` (and a few ``edgecam run``) in a subprocess; its timeout only guards
against a hang (a FIFO opened for reading blocks forever).
"""

from __future__ import annotations

import os

import pytest
from cli_run import assert_clean_exit2, edgecam

pytestmark = pytest.mark.slow  # runs the edgecam CLI in subprocesses


def special_path(kind: str, tmp_path):
    """A path that is not a usable regular file."""
    if kind == "fifo":
        p = tmp_path / "fifo"
        os.mkfifo(p)
        return str(p)
    if kind == "dev-zero":
        return "/dev/zero"
    if kind == "directory":
        return str(tmp_path)
    if kind == "symlink-loop":
        a, b = tmp_path / "loop-a", tmp_path / "loop-b"
        a.symlink_to(b)
        b.symlink_to(a)
        return str(a)
    if kind == "long-name":
        return str(tmp_path / ("x" * 5000))
    if kind == "proc-mem":
        return "/proc/self/mem"
    if kind == "missing":
        return str(tmp_path / "missing.toml")
    raise AssertionError(kind)


KINDS = ["fifo", "dev-zero", "directory", "symlink-loop", "long-name", "proc-mem", "missing"]


@pytest.mark.parametrize("kind", KINDS)
def test_config_path_itself(tmp_path, kind):
    path = special_path(kind, tmp_path)
    for command in ("check", "run"):
        result = edgecam(command, "--config", path)
        assert_clean_exit2(result, "config file")
        assert len(result.lines) == 1, result.lines


@pytest.mark.parametrize("kind", KINDS + ["nul-byte"])
@pytest.mark.parametrize("key", ["password_file", "ca_file"])
def test_paths_inside_the_config(tmp_path, kind, key):
    path = "a\\u0000b" if kind == "nul-byte" else special_path(kind, tmp_path)
    tls = 'tls = true\n' if key == "ca_file" else ""
    config = tmp_path / "edgecam.toml"
    config.write_text(f'[mqtt]\nusername = "u"\n{tls}{key} = "{path}"\n[output]\nstate_dir = "{tmp_path / "state"}"\n')
    result = edgecam("check", "--config", str(config))
    assert_clean_exit2(result, f"{config}:", f"[mqtt] {key}:")


def test_toml_nested_5000_deep(tmp_path):
    config = tmp_path / "edgecam.toml"
    config.write_text("[model]\nclasses = " + "[" * 5000 + "]" * 5000 + "\n")
    result = edgecam("check", "--config", str(config))
    assert_clean_exit2(result, f"{config}", "nested too deeply")
    assert len(result.lines) == 1


def test_utf8_bom_is_accepted(tmp_path):
    config = tmp_path / "edgecam.toml"
    config.write_bytes(b"\xef\xbb\xbf" + f'[camera]\nsource = "images"\npath = "{tmp_path}"\n'
                       f'[output]\nstate_dir = "{tmp_path / "state"}"\n'.encode())
    result = edgecam("check", "--config", str(config))
    assert result.code == 0, result
    assert result.stdout.startswith(f"{config}: OK")
