"""[filters], [filters.<label>], zone filters, min_s and the renamed max_missed: validated with file:line."""

from __future__ import annotations

import textwrap

import pytest

from edgecam.config import load_config, parse_config
from edgecam.errors import ConfigError


def problems(text: str, tmp_path=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        if tmp_path is None:
            parse_config(textwrap.dedent(text), filename="c.toml")
        else:
            path = tmp_path / "c.toml"
            path.write_text(textwrap.dedent(text))
            load_config(path)
    return info.value.problems


def test_filters_parse_into_defaults_and_label_tables():
    cfg = parse_config(textwrap.dedent("""
        [filters]
        min_score = 0.5
        max_ratio = 4
        [filters.person]
        min_area = 0.002
        threshold = 0.7
        [[zones]]
        name = "door"
        points = [[0, 0], [1, 0], [1, 1]]
        min_s = 3
        [zones.filters.car]
        min_area = 0.05
        """))
    assert cfg.filters.min_score == 0.5 and cfg.filters.max_ratio == 4.0
    assert cfg.filters.labels["person"].min_area == 0.002 and cfg.filters.labels["person"].threshold == 0.7
    assert cfg.zones[0].min_s == 3.0 and cfg.zones[0].filters.labels["car"].min_area == 0.05


def test_errors_name_the_line_and_the_fix():
    got = problems("""\
        [filters]
        min_score = 1.5
        min_scor = 0.3
        [filters.person]
        min_area = 0.5
        max_area = 0.1
        colour = "red"
        [tracking]
        max_missed = 5
        """)
    assert got == [
        "c.toml:3: [filters] min_scor: unknown key min_scor = 0.3; did you mean 'min_score'? (a label's own filters "
        "are a table: [filters.min_scor])",
        "c.toml:9: [tracking] max_missed: max_missed (frames) is now max_missed_s (seconds, frame-rate independent); "
        "replace it with max_missed_s = <frames / fps>, e.g. max_missed_s = 2.0",
    ]
    got = problems("""\
        [filters]
        min_score = 1.5
        [filters.person]
        min_area = 0.5
        max_area = 0.1
        [filters.car]
        colour = "red"
        """)
    assert got == [
        "c.toml:2: [filters] min_score: must be ≤ 1.0, got 1.5",
        "c.toml:4: [filters] person.min_area: min_area (0.5) is above max_area (0.1); nothing could pass: lower "
        "min_area or raise max_area",
        "c.toml:7: [filters] car.colour: unknown key 'colour'; known keys: min_score, threshold, min_area, "
        "max_area, min_ratio, max_ratio",
    ]
    got = problems("""\
        [[zones]]
        name = "door"
        points = [[0, 0], [1, 0], [1, 1]]
        min_s = -1
        [zones.filters.person]
        min_ratio = 0
        """)
    assert got == ["c.toml:4: [[zones]] #1 min_s: must be ≥ 0.0, got -1",
                   "c.toml:6: [[zones]] #1 filters.person.min_ratio: must be > 0.0, got 0"]


def test_filter_labels_are_checked_against_the_model(tmp_path):
    got = problems("""\
        [camera]
        source = "images"
        path = "."
        [mqtt]
        enabled = false
        [filters.persn]
        min_area = 0.01
        [[zones]]
        name = "door"
        points = [[0, 0], [1, 0], [1, 1]]
        [zones.filters.dgo]
        threshold = 0.7
        """, tmp_path)
    assert [p.split(": ", 1)[0][len(str(tmp_path)) + 1:] for p in got] == ["c.toml:6", "c.toml:11"]
    assert "model yolov5ss has no class 'persn'" in got[0] and "no class 'dgo'" in got[1]
