"""One confidence rule (``edgecam/confidence.py``): every interface accepts and refuses the same values,
and every default is the one default."""

from __future__ import annotations

import argparse

import pytest

from edgecam import cliargs
from edgecam.cli import build_parser
from edgecam.config import parse_config
from edgecam.confidence import CONF_DEFAULT, CONF_MAX, CONF_MIN
from edgecam.controls import Controls
from edgecam.detectors.settings import DetectorSettings
from edgecam.errors import ConfigError
from edgecam.publishers.mqtt import commands


def _accepted_everywhere(value: float) -> dict[str, bool]:
    out = {}
    try:
        parse_config(f"[model]\nconf = {value!r}\n", base_dir=".")
        out["config"] = True
    except ConfigError:
        out["config"] = False
    try:
        cliargs.conf(repr(value))
        out["cli"] = True
    except argparse.ArgumentTypeError:
        out["cli"] = False
    try:
        commands.parse_conf(repr(value).encode())
        out["mqtt"] = True
    except ValueError:
        out["mqtt"] = False
    try:
        Controls().set_conf(value)
        out["controls"] = True
    except ValueError:
        out["controls"] = False
    return out


@pytest.mark.parametrize("value, ok", [
    (CONF_MIN, True), (CONF_MAX, True), (CONF_DEFAULT, True), (0.5, True),
    (0.005, False), (0.995, False), (0.0, False), (1.0, False), (1.5, False),
])
def test_every_interface_applies_the_one_range(value, ok):
    assert _accepted_everywhere(value) == dict.fromkeys(("config", "cli", "mqtt", "controls"), ok)


def test_every_default_is_the_one_default():
    assert CONF_DEFAULT == 0.45
    assert DetectorSettings().conf == Controls().conf == parse_config("").model.conf == CONF_DEFAULT
    assert build_parser().parse_args(["detect", "x.jpg"]).conf == CONF_DEFAULT


def test_settings_built_in_code_may_score_below_the_range():
    """Evaluation scores mAP down to 0.001; a config file may not."""
    assert DetectorSettings(conf=0.001).conf == 0.001
    with pytest.raises(ValueError, match=r"conf must be in \(0, 1\]"):
        DetectorSettings(conf=0.0)
