"""Fuzzing ``edgecam check``: whatever the config holds, it ends in exit 0 or 2 with one line per problem.

Two generators: structured mutations of a valid config (every known key, random keys, values of every
TOML type including NaN, huge integers, control characters, nested arrays and tables) and byte-level
mutations of the shipped example. ``check`` runs in-process through the CLI entry point, so any
exception other than the CLI's own error path fails the test with its traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecam.cli import main
from edgecam.config import EXAMPLE_CONFIG, Settings
from edgecam.config.plugins import CAMERA_SETTINGS
from sharedkit import IMAGES as SHARED_IMAGES


def section_keys() -> dict[str, list[str]]:
    import typing

    out: dict[str, list[str]] = {}
    for f in dataclasses.fields(Settings):
        if f.name == "camera":
            out[f.name] = sorted({k.name for cls in CAMERA_SETTINGS.values() for k in dataclasses.fields(cls)})
            continue
        tp = typing.get_type_hints(Settings)[f.name]
        cls = tp if dataclasses.is_dataclass(tp) else typing.get_args(tp)[0]
        out[f.name] = [k.name for k in dataclasses.fields(cls)]
    return out


SECTIONS = section_keys()
INTERESTING = ["", " ", "images", "opencv", "picamera2", "yolov5ss", "yolov5ss-int8", "../x", "x.param",
               "rtsp://user:secret@cam/stream", "/dev/zero", "/dev/video0", "person", "Person", "a\x00b",
               "relative", "pixels", "5", "3.1.1", "true", "localhost", "-", "~", "x" * 300]
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = (st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats()
           | st.sampled_from(INTERESTING) | text | st.integers(min_value=-100, max_value=5000))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=3),
                      max_leaves=8)
keys = st.sampled_from(sorted({k for ks in SECTIONS.values() for k in ks})) | text
mutation = st.tuples(st.sampled_from(sorted(SECTIONS)) | text, keys, values)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_document(doc: dict) -> str:
    lines = []
    for section, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(section, ensure_ascii=False)}]")
            lines += [f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in table.items()]
        elif isinstance(table, list) and section in ("zones", "masks") and all(isinstance(t, dict) for t in table):
            for item in table:
                lines.append(f"[[{section}]]")
                lines += [f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in item.items()]
        else:
            lines.insert(0, f"{json.dumps(section, ensure_ascii=False)} = {toml_value(table)}")
    return "\n".join(lines) + "\n"


def run_check(path: Path) -> tuple[int, list[str]]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["check", "--config", str(path)])
    return code, [line for line in err.getvalue().splitlines() if line.strip()]


def assert_exit_0_or_2(path: Path) -> None:
    code, lines = run_check(path)
    assert code in (0, 2), (code, lines)
    if code == 2:
        assert lines, "exit 2 without a message"
        for line in lines:
            assert line.startswith(f"edgecam check: {path}") or line.startswith("edgecam check: config file"), line
            assert "Traceback" not in line and "secret@" not in line, line


BASE = {
    "camera": {"id": "fuzz", "source": "images", "path": str(SHARED_IMAGES)},
    "model": {"size": 320, "threads": 1},
    "mqtt": {"enabled": True, "host": "127.0.0.1"},
    "output": {"state_dir": "state"},
    "zones": [{"name": "z", "points": [[0, 0], [1, 0], [1, 1]]}],
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=4))
def test_structured_mutations_end_in_exit_0_or_2(mutations):
    doc = json.loads(json.dumps(BASE))
    for section, key, value in mutations:
        table = doc.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = value
        elif isinstance(table, list) and table and isinstance(table[0], dict):
            table[0][key] = value
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "edgecam.toml"
        path.write_text(toml_document(doc), encoding="utf-8")
        assert_exit_0_or_2(path)


EXAMPLE = EXAMPLE_CONFIG.read_bytes()
byte_edit = st.tuples(st.integers(0, len(EXAMPLE) - 1), st.sampled_from(["flip", "insert", "delete"]),
                      st.binary(min_size=1, max_size=4))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(byte_edit, min_size=1, max_size=6))
def test_byte_mutations_of_the_example_end_in_exit_0_or_2(edits):
    data = bytearray(EXAMPLE)
    for pos, op, blob in edits:
        pos = min(pos, len(data) - 1)
        if op == "flip":
            data[pos] ^= blob[0] or 1
        elif op == "insert":
            data[pos:pos] = blob
        else:
            del data[pos : pos + len(blob)]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "edgecam.toml"
        path.write_bytes(bytes(data))
        assert_exit_0_or_2(path)
