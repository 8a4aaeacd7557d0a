"""The zone/mask editor's save: the page's zones and masks → the config file, then the running daemon.

``POST /api/regions`` with ``{"zones": [{name, points, labels}], "masks": [{points, labels}]}``
(relative coordinates, as the page edits them):

1. the config file is read again (edits made by hand since the start are kept) and its ``[[zones]]``
   and ``[[masks]]`` tables are rewritten with tomlkit, so comments, key order and every other table
   stay as they were; an existing table keeps its own comments and any keys the editor does not set;
2. the new text passes the same validation as ``edgecam check`` (schema and preflight) or nothing is
   written and every problem is returned;
3. the old file is copied to ``<config>.bak``, the new one written to a temporary file beside it,
   flushed to disk and renamed over it (a crash leaves the old file or the new one, never half);
4. the zones and masks are handed to the tracker (taken at its next frame) and the picture, so the
   daemon uses them without a restart, unless the zone *names* changed (they name MQTT topics and
   Home Assistant entities, announced at start): then the answer says a restart is needed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from edgecam.errors import ConfigError
from edgecam.files import FileProblem, read_regular_file
from edgecam.tracking.settings import MaskSettings, ZoneSettings
from edgecam.web.zones import DraftError, parse_draft

log = logging.getLogger(__name__)

MAX_REGIONS = 100
Apply = Callable[[Sequence[ZoneSettings], Sequence[MaskSettings]], None]
Check = Callable[[str, str, Path], tuple[Any, list[str]]]  # edgecam check's validation: (settings, warnings)
MAX_CONFIG_BYTES = 1024 * 1024


def parse_regions(body: Any) -> tuple[list[dict], list[dict]]:
    """``(zones, masks)`` drafts from the request body; DraftError (HTTP 400) when it is not that shape."""
    if not isinstance(body, dict) or set(body) - {"zones", "masks"}:
        raise DraftError('expected {"zones": [...], "masks": [...]}')
    out = []
    for kind in ("zones", "masks"):
        items = body.get(kind, [])
        if not isinstance(items, list) or len(items) > MAX_REGIONS:
            raise DraftError(f"{kind} must be a list of at most {MAX_REGIONS}")
        drafts = []
        for item in items:
            if not isinstance(item, dict):
                raise DraftError(f"every entry of {kind} is an object")
            drafts.append(parse_draft({**item, "kind": kind[:-1]}))
        out.append(drafts)
    return out[0], out[1]


def _table(draft: dict, existing: Any = None):
    import tomlkit

    table = existing if existing is not None else tomlkit.table()
    if draft["kind"] == "zone":
        table["name"] = draft["name"]
    points = tomlkit.array()
    for x, y in draft["points"]:
        points.append([float(x), float(y)])
    table["points"] = points
    table["labels"] = list(draft["labels"])
    table["coordinates"] = "relative"
    return table


def _rewrite(doc: Any, key: str, drafts: list[dict]) -> None:
    """Rewrite the array of tables ``key`` in place: existing tables are updated (their comments and
    other keys kept), extra ones removed, new ones appended."""
    import tomlkit
    from tomlkit.items import AoT

    current = doc.get(key)
    if not isinstance(current, AoT):
        if key in doc:
            del doc[key]
        if drafts:
            aot = tomlkit.aot()
            for d in drafts:
                aot.append(_table(d))
            doc.append(key, aot)
        return
    tables = current.body
    for i, d in enumerate(drafts):
        if i < len(tables):
            _table(d, tables[i])
        else:
            current.append(_table(d))
    while len(current.body) > len(drafts):
        del current[len(current.body) - 1]
    if not drafts:
        del doc[key]


def rewritten(text: str, zones: list[dict], masks: list[dict]) -> str:
    """``text`` with its ``[[zones]]`` and ``[[masks]]`` replaced; everything else byte for byte."""
    import tomlkit

    doc = tomlkit.parse(text)
    _rewrite(doc, "zones", zones)
    _rewrite(doc, "masks", masks)
    return tomlkit.dumps(doc)


def write_atomically(path: Path, text: str) -> Path:
    """Back up ``path`` to ``<path>.bak`` and replace it with ``text`` atomically (same mode); the backup."""
    backup = path.with_name(path.name + ".bak")
    shutil.copy2(path, backup)
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return backup


class RegionEditor:
    """Saves the page's zones and masks to ``config_path`` after ``check`` (``edgecam check``'s validation,
    raising ConfigError with every problem) and hands them to ``apply`` (the running daemon)."""

    def __init__(self, config_path: Path, apply: Apply, check: Check) -> None:
        self.config_path = Path(config_path)
        self.apply = apply
        self.check = check

    def save(self, body: Any) -> tuple[int, Any]:
        try:
            zones, masks = parse_regions(body)
        except DraftError as exc:
            return 400, {"error": str(exc)}
        path = self.config_path
        try:
            text = read_regular_file(path, "config file", MAX_CONFIG_BYTES).decode("utf-8-sig")
        except (FileProblem, UnicodeDecodeError) as exc:
            return 500, {"error": f"cannot read the config {path} ({exc}); fix the file, then save again"}
        try:
            new_text = rewritten(text, zones, masks)
        except Exception as exc:  # tomlkit's parse errors: the file on disk is not valid TOML (any more)
            return 400, {"error": f"{path} is not valid TOML ({exc}); run edgecam check --config {path} and fix it"}
        try:
            settings, _ = self.check(new_text, str(path), path.resolve().parent)  # exactly what check does
        except ConfigError as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            return 400, {"error": problems[0], "problems": problems}
        try:
            backup = write_atomically(path, new_text)
        except OSError as exc:
            return 500, {"error": f"cannot write {path} ({exc.strerror or exc}); the daemon's user needs write "
                                  f"access to the file and its directory, or paste the TOML into it by hand"}
        log.info("live view: saved %d zone(s) and %d mask(s) to %s (backup %s)", len(zones), len(masks), path, backup)
        answer = {"saved": str(path), "backup": str(backup), "applied": True, "restart": None,
                  "zones": len(settings.zones), "masks": len(settings.masks)}
        try:
            self.apply(settings.zones, settings.masks)
        except ValueError as exc:  # zone names changed: topics and entities are announced at start
            answer.update(applied=False, restart=f"{exc} (sudo systemctl restart edgecam)")
            log.warning("live view: zones saved; %s", answer["restart"])
        return 200, answer
