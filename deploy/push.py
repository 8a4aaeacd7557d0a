"""``make push HOST=user@pi BUNDLE=dir``: copy a bundle to the Pi, point the config at it, restart, check.

Remote (``HOST`` = ``[user@]host``): ``rsync -a --delete`` over ssh into ``<models-dir>/<bundle name>``, then one
ssh command rewrites ``[model] path`` in the config, restarts the service and runs ``edgecam check``.

Local (``HOST`` is a path, for testing or a mounted SD card): ``HOST`` is the target's root file system —
the bundle goes to ``$HOST/<models-dir>/<bundle name>``, the config is ``$HOST/<config>``, the restart is skipped
(or run with ``--restart-cmd``) and ``edgecam check`` runs locally on the rewritten config.  Defaults:
``--models-dir /var/lib/edgecam/models``, ``--config /etc/edgecam/edgecam.toml``, ``--service edgecam``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = "/var/lib/edgecam/models"
CONFIG = "/etc/edgecam/edgecam.toml"
SERVICE = "edgecam"


class PushError(RuntimeError):
    pass


@dataclass
class PushOptions:
    host: str
    bundle: Path
    models_dir: str = MODELS_DIR
    config: str = CONFIG
    service: str = SERVICE
    restart_cmd: str | None = None  # default: systemctl restart <service> (remote), nothing (local)
    check_cmd: str = "edgecam check --config {config}"
    dry_run: bool = False


def is_local(host: str) -> bool:
    return host.startswith(("/", "./", "../", "~")) or Path(host).is_dir()


_MODEL_SECTION = re.compile(r"^\s*\[model\]\s*(#.*)?$")
_SECTION = re.compile(r"^\s*\[")
_PATH_KEY = re.compile(r"^(\s*path\s*=\s*)(\"(?:[^\"\\]|\\.)*\"|'[^']*')(.*)$")


def set_model_path(toml_text: str, model_path: str) -> str:
    """Rewrite (or add) ``path`` in the ``[model]`` table, keeping everything else byte for byte."""
    value = '"' + model_path.replace("\\", "\\\\").replace('"', '\\"') + '"'
    lines = toml_text.splitlines(keepends=True)
    out: list[str] = []
    in_model = found_section = done = False
    for line in lines:
        if _SECTION.match(line):
            if in_model and not done:
                out.append(f"path = {value}\n")
                done = True
            in_model = bool(_MODEL_SECTION.match(line))
            found_section = found_section or in_model
        elif in_model and not done:
            m = _PATH_KEY.match(line.rstrip("\n"))
            if m:
                out.append(f"{m.group(1)}{value}{m.group(3)}\n")
                done = True
                continue
        out.append(line)
    if in_model and not done:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append(f"path = {value}\n")
        done = True
    if not found_section:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append(f"\n[model]\npath = {value}\n")
    return "".join(out)


def _run(cmd: list[str] | str, dry: bool, say, shell: bool = False) -> None:
    say("+ " + (cmd if isinstance(cmd, str) else " ".join(shlex.quote(c) for c in cmd)))
    if dry:
        return
    proc = subprocess.run(cmd, shell=shell)  # noqa: S602 - shell only for the user's own --restart-cmd
    if proc.returncode != 0:
        raise PushError(f"command failed with exit {proc.returncode}")


def push(opt: PushOptions, say=print) -> str:
    """Returns the model path written into the config."""
    bundle = opt.bundle.resolve()
    if not (bundle / "model.json").is_file():
        raise PushError(f"{opt.bundle}: not a bundle directory (no model.json); build one with make models")
    from edgecam.bundles.resolver import resolve  # noqa: PLC0415 - sha256 + structure check before copying

    resolve(bundle)
    remote_dir = f"{opt.models_dir.rstrip('/')}/{bundle.name}"
    check = opt.check_cmd.format(config=shlex.quote(opt.config))
    if is_local(opt.host):
        root = Path(opt.host).expanduser().resolve()
        dst = root / remote_dir.lstrip("/")
        cfg = root / opt.config.lstrip("/")
        if not cfg.is_file():
            raise PushError(f"{cfg}: no config to update; create it first (see CONTRACT §4)")
        dst.parent.mkdir(parents=True, exist_ok=True)
        _run(["rsync", "-a", "--delete", f"{bundle}/", f"{dst}/"], opt.dry_run, say)
        if not opt.dry_run:
            cfg.write_text(set_model_path(cfg.read_text(), str(dst)))
        say(f"  {cfg}: [model] path = {dst}")
        if opt.restart_cmd:
            _run(opt.restart_cmd, opt.dry_run, say, shell=True)
        local_check = opt.check_cmd.format(config=shlex.quote(str(cfg)))
        exe = [sys.executable, "-m", "edgecam"] + shlex.split(local_check)[1:] if local_check.startswith("edgecam ") else None
        _run(exe or local_check, opt.dry_run, say, shell=exe is None)
        return str(dst)
    restart = opt.restart_cmd or f"sudo systemctl restart {shlex.quote(opt.service)}"
    _run(["ssh", opt.host, f"mkdir -p {shlex.quote(opt.models_dir)}"], opt.dry_run, say)
    _run(["rsync", "-az", "--delete", "-e", "ssh", f"{bundle}/", f"{opt.host}:{remote_dir}/"], opt.dry_run, say)
    # the Pi has no deploy/ package: the same rewrite ships as a self-contained python3 script
    script = _REMOTE_SET_PATH
    remote = (f"python3 -c {shlex.quote(script)} {shlex.quote(opt.config)} {shlex.quote(remote_dir)} && "
              f"{restart} && {check}")
    _run(["ssh", opt.host, remote], opt.dry_run, say)
    return remote_dir


# The same rewrite as set_model_path, shipped as a self-contained one-liner (the Pi has no deploy/ package).
_REMOTE_SET_PATH = r'''
import re,sys,pathlib
p=pathlib.Path(sys.argv[1]);v='"'+sys.argv[2].replace('\\','\\\\').replace('"','\\"')+'"'
out=[];inm=found=done=False
for line in p.read_text().splitlines(keepends=True):
    if re.match(r"^\s*\[",line):
        if inm and not done: out.append("path = %s\n"%v);done=True
        inm=bool(re.match(r"^\s*\[model\]\s*(#.*)?$",line));found=found or inm
    elif inm and not done:
        m=re.match(r"^(\s*path\s*=\s*)(\"(?:[^\"\\]|\\.)*\"|'[^']*')(.*)$",line.rstrip("\n"))
        if m: out.append(m.group(1)+v+m.group(3)+"\n");done=True;continue
    out.append(line)
if inm and not done: out.append("path = %s\n"%v);done=True
if not found: out.append("\n[model]\npath = %s\n"%v)
tmp=p.with_suffix(".tmp");tmp.write_text("".join(out));tmp.replace(p)
'''
