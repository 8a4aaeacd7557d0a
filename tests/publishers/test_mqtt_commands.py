"""MQTT commands, pure: parsing the payloads of set/detection and set/conf, and the command router."""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from edgecam.confidence import CONF_MAX, CONF_MIN
from edgecam.publishers.mqtt import commands
from edgecam.publishers.mqtt.topics import Topics

T = Topics("edgecam", "front")


@pytest.mark.parametrize("raw,value", [(b"ON", True), (b"off", False), (b" true\n", True), (b"0", False)])
def test_detection_payloads(raw, value):
    assert commands.parse_detection(raw) is value


@pytest.mark.parametrize("raw,value", [(b"0.5", 0.5), (b"0.01", 0.01), (b".3", 0.3), (b"+0.7", 0.7), (b"5e-1", 0.5),
                                       (b"0.99", 0.99), (b"0.456", 0.46)])
def test_conf_payloads(raw, value):
    assert commands.parse_conf(raw) == value
    assert commands.format_state("conf", commands.parse_conf(raw)) == repr(value).encode()


@pytest.mark.parametrize("raw", [b"", b"nan", b"NaN", b"inf", b"-0.5", b"0", b"1", b"1.5", b"0x1p-1", b"abc",
                                 b"4.9e-324", b"0.9999999999999999", b"0.001", b"0.995",
                                 b"0.5" + b" " * 40, b"\xff\xfe", b"0.5\x00", b"1e999", b"0_5", "٠.٥".encode()])
def test_bad_conf_payloads_are_rejected(raw):
    with pytest.raises(ValueError):
        commands.parse_conf(raw)


@given(st.binary(max_size=64))
@hsettings(max_examples=300, deadline=None)
def test_parsers_never_crash_and_accept_only_sane_values(raw):
    try:
        value = commands.parse_conf(raw)
    except ValueError:
        pass
    else:
        assert math.isfinite(value) and CONF_MIN <= value <= CONF_MAX and value == round(value, 2)
    try:
        assert commands.parse_detection(raw) in (True, False)
    except ValueError:
        pass


def test_home_assistant_births_are_logged_once_per_interval(caplog):
    from edgecam.publishers.mqtt.router import CommandRouter
    from edgecam.controls import Controls

    now = [0.0]
    asked = []
    router = CommandRouter(T, "homeassistant/status", Controls(), lambda: asked.append(1), clock=lambda: now[0],
                           birth_log_s=300.0)
    assert router.subscriptions() == [("edgecam/front/set/+", 1), ("homeassistant/status", 1)]
    with caplog.at_level(logging.INFO, logger="edgecam.publishers.mqtt.router"):
        for _ in range(1000):
            router.handle("homeassistant/status", b"online")
            now[0] += 0.1  # 100 s in all
        router.handle("homeassistant/status", b"offline")
        now[0] += 300.0
        router.handle("homeassistant/status", b"online")
    lines = [r.message for r in caplog.records if "Home Assistant is online" in r.message]
    assert len(asked) == 1001 and router.births == 1001  # discovery is asked for every time
    assert len(lines) == 2 and "(1000 births since the last such line)" in lines[1]


def test_commands_use_the_one_confidence_range():
    from edgecam.publishers.mqtt.router import CommandRouter
    from edgecam.controls import Controls

    controls = Controls(conf=0.45)
    router = CommandRouter(T, None, controls, lambda: None)
    for payload in (b"4.9e-324", b"0.9999999999999999", b"0.994", b"0"):
        router.handle("edgecam/front/set/conf", payload)
        assert controls.conf == 0.45
    router.handle("edgecam/front/set/conf", b"0.456")
    assert controls.conf == 0.46 and commands.format_state("conf", controls.conf) == b"0.46"


def test_the_router_refuses_a_command_not_in_the_table(caplog):
    from edgecam.controls import Controls
    from edgecam.publishers.mqtt.router import CommandRouter

    controls = Controls(conf=0.45)
    router = CommandRouter(T, None, controls, lambda: None)
    with caplog.at_level(logging.WARNING, logger="edgecam.publishers.mqtt.router"):
        for name in ("threshold", "", "Conf"):
            router.handle(f"edgecam/front/set/{name}", b"0.2")
    assert controls.conf == 0.45 and controls.detection_enabled
    refused = [r.getMessage() for r in caplog.records]
    assert refused == [f"MQTT command refused: set/{name} is not a command; use one of set/detection, set/conf"
                       for name in ("threshold", "", "Conf")]
    router.handle("edgecam/front/set/detection", b"OFF")  # the table still works after a refusal
    assert not controls.detection_enabled
