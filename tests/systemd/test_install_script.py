"""systemd/install.sh against a temporary root: real systemd-sysusers/systemctl --root/venv, never the live system."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the install script and systemd tools in subprocesses

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "systemd" / "install.sh"
UNINSTALL = REPO / "systemd" / "uninstall.sh"
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "python3"


def sh(*args: str | Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["bash", *map(str, args)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **(env or {})})
    if check:
        assert res.returncode == 0, f"{args} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    return res


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    # a target system that already has the video group (as Raspberry Pi OS does)
    (r / "etc" / "group").write_text("root:x:0:\nvideo:x:44:pi\n")
    (r / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    for name in ("shadow", "gshadow"):
        (r / "etc" / name).write_text("")
        (r / "etc" / name).chmod(0o600)
    return r


def user_lines(root: Path) -> tuple[list[str], list[str]]:
    passwd = [l for l in (root / "etc/passwd").read_text().splitlines() if l.startswith("edgecam:")]
    group = (root / "etc/group").read_text().splitlines()
    return passwd, group


def test_install_then_uninstall_then_purge(root):
    res = sh(INSTALL, "--root", root, "--no-pip", "--python", SYSTEM_PYTHON)
    assert "installed default config" in res.stdout

    # user: system account, nologin, state dir as home, member of the existing video group
    passwd, group = user_lines(root)
    assert len(passwd) == 1
    name, _, uid, gid, _, home, shell = passwd[0].split(":")
    assert int(uid) < 1000 and home == "/var/lib/edgecam" and shell == "/usr/sbin/nologin"
    video = [l for l in group if l.startswith("video:x:44:")]
    assert len(video) == 1 and set(video[0].split(":")[3].split(",")) == {"pi", "edgecam"}
    assert any(l.startswith(f"edgecam:x:{gid}:") for l in group)

    # unit, enabled through a real `systemctl --root` symlink
    unit = root / "etc/systemd/system/edgecam.service"
    assert unit.read_text() == (REPO / "systemd/edgecam.service").read_text()
    link = root / "etc/systemd/system/multi-user.target.wants/edgecam.service"
    assert link.is_symlink() and os.readlink(link) == "/etc/systemd/system/edgecam.service"

    # venv with the system site-packages (picamera2/libcamera come from apt)
    cfg = (root / "opt/edgecam/venv/pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg
    assert os.access(root / "opt/edgecam/venv/bin/python", os.X_OK)

    # default config from the example; empty root-only credential file
    conf = root / "etc/edgecam/edgecam.toml"
    assert conf.read_text() == (REPO / "edgecam/config/example.toml").read_text()
    assert conf.stat().st_mode & 0o777 == 0o644
    cred = root / "etc/edgecam/mqtt_password"
    assert cred.read_text() == "" and cred.stat().st_mode & 0o777 == 0o600

    # idempotent, and an edited config / a real password are never overwritten
    conf.write_text(conf.read_text() + "\n# edited by the owner\n")
    cred.write_text("s3cret\n")
    res = sh(INSTALL, "--root", root, "--no-pip", "--python", SYSTEM_PYTHON)
    assert "keeping existing" in res.stdout
    assert conf.read_text().endswith("# edited by the owner\n") and cred.read_text() == "s3cret\n"
    assert len(user_lines(root)[0]) == 1 and link.is_symlink()

    # uninstall keeps config, state and the user
    (root / "var/lib/edgecam").mkdir(parents=True)
    sh(UNINSTALL, "--root", root)
    assert not unit.exists() and not link.exists() and not (root / "opt/edgecam").exists()
    assert not (root / "etc/sysusers.d/edgecam.conf").exists()
    assert conf.read_text().endswith("# edited by the owner\n")
    assert (root / "var/lib/edgecam").is_dir() and len(user_lines(root)[0]) == 1
    sh(UNINSTALL, "--root", root)  # idempotent

    # purge removes the rest, including the user and its group, but not the video group
    sh(UNINSTALL, "--root", root, "--purge")
    assert not (root / "etc/edgecam").exists() and not (root / "var/lib/edgecam").exists()
    passwd, group = user_lines(root)
    assert passwd == [] and not any(l.startswith("edgecam:") for l in group)
    assert any(l.startswith("video:x:44:") for l in group)


def test_destdir_and_no_user_no_venv(tmp_path):
    root = tmp_path / "stage"
    res = sh(INSTALL, "--no-user", "--no-venv", env={"DESTDIR": str(root)})
    assert (root / "etc/systemd/system/edgecam.service").is_file()
    assert (root / "etc/sysusers.d/edgecam.conf").read_text() == (REPO / "systemd/edgecam.sysusers").read_text()
    assert not (root / "opt").exists() and not (root / "etc/passwd").exists()
    assert "installed into" in res.stdout


def test_recording_overrides_see_the_offline_commands(tmp_path, root):
    log = tmp_path / "calls.log"
    rec = tmp_path / "record"
    rec.write_text(f'#!/bin/sh\necho "$(basename "$0") $*" >> {log}\n')
    rec.chmod(0o755)
    for tool in ("systemctl", "sysusers"):
        os.symlink(rec, tmp_path / tool)
    env = {"SYSTEMCTL": str(tmp_path / "systemctl"), "SYSUSERS": str(tmp_path / "sysusers")}
    sh(INSTALL, "--root", root, "--no-venv", env=env)
    sh(UNINSTALL, "--root", root, env=env)
    assert log.read_text().splitlines() == [
        f"sysusers --root={root} edgecam.conf",
        f"systemctl --root={root} enable edgecam.service",
        f"systemctl --root={root} disable edgecam.service",
    ]


def test_live_system_plan_in_dry_run():
    # On / the script must create the user, build the venv with system site-packages, pip-install the
    # source tree, install unit + config, then daemon-reload, enable and (re)start. --dry-run only prints.
    res = sh(INSTALL, "--dry-run", "--python", "/usr/bin/python3")
    cmds = [l for l in res.stdout.splitlines() if l.startswith("+ ")]
    text = "\n".join(cmds)
    assert "+ systemd-sysusers /etc/sysusers.d/edgecam.conf" in cmds
    if not Path("/opt/edgecam/venv/bin/python").exists():
        assert "+ /usr/bin/python3 -m venv --system-site-packages /opt/edgecam/venv" in cmds
    pip = [c for c in cmds if "/opt/edgecam/venv/bin/python -m pip install --disable-pip-version-check --upgrade" in c]
    assert len(pip) == 1 and pip[0].endswith(f" {REPO}")
    assert "install -D -m 0644" in text and "/etc/systemd/system/edgecam.service" in text
    tail = cmds[-3:]
    assert tail == ["+ systemctl daemon-reload", "+ systemctl enable edgecam.service", "+ systemctl restart edgecam.service"]
    res = sh(UNINSTALL, "--dry-run", "--purge")
    cmds = [l for l in res.stdout.splitlines() if l.startswith("+ ")]
    assert cmds[0] == "+ systemctl disable --now edgecam.service"
    assert "+ rm -rf /opt/edgecam" in cmds and "+ userdel edgecam" in cmds
    assert any(c.startswith("+ rm -rf /etc/edgecam /var/lib/edgecam") for c in cmds)


def test_pip_is_constrained_to_the_numpy_of_the_system_python(root):
    # The venv sees the system site-packages; the Pi camera stack there is built against the system's
    # numpy, so pip must keep it (else `import picamera2` fails). The dev venv's python stands in for
    # the system python here: it has a numpy, whose exact version must become the constraint.
    version = subprocess.run([sys.executable, "-c", "import numpy; print(numpy.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    res = sh(INSTALL, "--dry-run", "--root", root, "--python", sys.executable)
    cmds = [l for l in res.stdout.splitlines() if l.startswith("+ ")]
    constraints = f"{root}/opt/edgecam/pip-constraints.txt"
    assert f"+ echo numpy=={version} > {constraints}" in cmds
    pip = [c for c in cmds if " -m pip install " in c]
    assert len(pip) == 1 and f"--constraint {constraints} " in pip[0]
    assert cmds.index(f"+ echo numpy=={version} > {constraints}") < cmds.index(pip[0])


def test_usage_errors_are_one_clear_line(tmp_path):
    res = sh(INSTALL, "--bogus", check=False)
    assert res.returncode == 2 and "unknown option '--bogus'" in res.stderr
    res = sh(INSTALL, "--root", tmp_path / "r", "--src", tmp_path, check=False)
    assert res.returncode == 2 and "no pyproject.toml in" in res.stderr and "--src" in res.stderr
    res = sh(INSTALL, "--purge", check=False)
    assert res.returncode == 2 and "--purge only makes sense with --uninstall" in res.stderr
    res = sh(INSTALL, "--root", tmp_path / "r2", "--no-user", "--python", "/nonexistent/python3", check=False)
    assert res.returncode == 2 and "python interpreter '/nonexistent/python3' not found" in res.stderr
