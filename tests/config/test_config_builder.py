"""The generic dataclass builder on a synthetic settings tree covering every supported type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgecam.config import Settings, parse_config
from edgecam.config.validate import Builder, supported
from edgecam.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    n: int = field(default=1, metadata={"min": 0, "max": 10, "exclusive_max": True})


@dataclass(frozen=True)
class Outer:
    required: str
    maybe: float | None = None
    either: int | str = 0
    pair: tuple[int, str] = (0, "")
    kind: Literal["a", "b", 3] = "a"
    inner: Inner = field(default_factory=Inner)
    inners: tuple[Inner, ...] = ()

    def validate(self) -> None:
        if self.kind == "b" and self.maybe is None:
            raise ValueError("maybe must be set when kind is 'b'")


def build(data):
    b = Builder()
    return b.build(Outer, data, ("outer",)), [(p.path, p.message) for p in b.problems]


def test_every_supported_type_converts():
    obj, problems = build(
        {"required": "r", "maybe": 2, "either": "s", "pair": [1, "x"], "kind": 3,
         "inner": {"n": 9}, "inners": [{"n": 0}, {}]}
    )
    assert problems == []
    assert obj == Outer("r", 2.0, "s", (1, "x"), 3, Inner(9), (Inner(0), Inner(1)))


def test_problems_are_collected_with_paths():
    _, problems = build({"maybe": "x", "either": 1.5, "pair": [1, 2], "kind": "3", "inner": {"n": 10},
                         "inners": [{"n": -1}, 5]})
    assert problems == [
        (("outer", "required"), "missing required key 'required'"),
        (("outer", "maybe"), 'expected a number, got a string ("x")'),
        (("outer", "either"), "expected an integer or a string, got a number (1.5)"),
        (("outer", "pair", 1), "expected a string, got an integer (2); put it in quotes: \"2\""),
        (("outer", "kind"), "must be one of 'a', 'b', 3, got a string (\"3\")"),
        (("outer", "inner", "n"), "must be < 10, got 10"),
        (("outer", "inners", 0, "n"), "must be ≥ 0, got -1"),
        (("outer", "inners", 1), "expected a table, got an integer (5)"),
    ]


def test_validate_runs_after_fields_and_names_the_key():
    _, problems = build({"required": "r", "kind": "b"})
    assert problems == [(("outer", "kind"), "maybe must be set when kind is 'b'")]


def test_unsupported_field_type_is_a_programming_error():
    @dataclass(frozen=True)
    class Bad:
        d: dict = field(default_factory=dict)

    assert supported(Bad) == ["Bad.d: <class 'dict'>"]
    with pytest.raises(TypeError, match="unsupported type"):
        Builder().build(Bad, {"d": {}}, ("bad",))


def test_real_settings_tree_is_fully_supported():
    assert supported(Settings) == []


@given(st.integers(min_value=-10_000, max_value=10_000))
def test_model_size_accepted_iff_in_range_and_multiple_of_32(size):
    ok = 32 <= size <= 2048 and size % 32 == 0
    try:
        cfg = parse_config(f"[model]\nsize = {size}\n")
    except ConfigError as exc:
        assert not ok, exc
        assert str(exc).startswith("<config>:2: [model] size: ")
    else:
        assert ok and cfg.model.size == size
