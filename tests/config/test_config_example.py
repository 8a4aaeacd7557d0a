"""The shipped example config loads, covers every section and documents every key."""

import dataclasses
import re

import typing

from edgecam.config import EXAMPLE_CONFIG, Settings, check_config, load_config
from edgecam.config.plugins import CAMERA_SETTINGS


def section_keys(section: str) -> set[str]:
    """The keys a section may hold ([camera]: those of every source)."""
    if section == "camera":
        return {f.name for cls in CAMERA_SETTINGS.values() for f in dataclasses.fields(cls)}
    tp = typing.get_type_hints(Settings)[section]
    cls = tp if dataclasses.is_dataclass(tp) else typing.get_args(tp)[0]
    flattened = getattr(cls, "__flattened__", None)  # e.g. [filters] labels: written as [filters.<label>] tables
    return {f.name for f in dataclasses.fields(cls)} - {flattened}


def documented_keys(text: str) -> dict[str, set[str]]:
    """Section name -> keys shown in it, set or commented out (``# key = ...``)."""
    keys: dict[str, set[str]] = {}
    section = ""
    for line in text.splitlines():
        header = re.match(r"^#? ?\[\[?([a-z_]+)\]\]?", line)
        if header:
            section = header.group(1)
            keys.setdefault(section, set())
            continue
        key = re.match(r"^#? ?([a-z_0-9]+) = ", line)
        if key and section:
            keys[section].add(key.group(1))
    return keys


def test_example_loads_and_is_the_pi4_default():
    cfg = load_config(EXAMPLE_CONFIG)
    defaults = Settings()
    assert cfg.camera.source == "picamera2" and cfg.camera.format == "YUV420"
    # the example shows the defaults (state_dir is machine-specific and left commented out)
    assert dataclasses.replace(cfg, output=defaults.output) == defaults
    assert check_config(EXAMPLE_CONFIG)[0].endswith(": OK")


def test_example_documents_every_section_and_key():
    keys = documented_keys(EXAMPLE_CONFIG.read_text())
    missing = []
    for section in dataclasses.fields(Settings):
        for name in sorted(section_keys(section.name)):
            if name not in keys.get(section.name, ()):
                missing.append(f"{section.name}.{name}")
    assert missing == [], f"document these keys in {EXAMPLE_CONFIG}"


def test_example_keys_are_all_known():
    keys = documented_keys(EXAMPLE_CONFIG.read_text())
    unknown = []
    for section, names in keys.items():
        unknown += [f"{section}.{n}" for n in names - section_keys(section)]
    assert unknown == []


def test_commented_zone_and_mask_examples_are_valid(tmp_path):
    lines = EXAMPLE_CONFIG.read_text().splitlines()
    out, uncomment = [], False
    for line in lines:
        if re.match(r"^# \[\[(zones|masks)\]\]", line):
            uncomment = True
        elif not line.strip():
            uncomment = False
        out.append(line[2:] if uncomment else line)
    path = tmp_path / "edgecam.toml"
    path.write_text("\n".join(out))
    cfg = load_config(path)
    assert [z.name for z in cfg.zones] == ["driveway"] and len(cfg.masks) == 1
