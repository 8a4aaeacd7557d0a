"""``[events]`` and ``[web] public_url`` are validated like every other section: one message, file:line."""

from __future__ import annotations

import pytest

from edgecam.config import parse_config
from edgecam.errors import ConfigError


def test_defaults():
    events = parse_config("").events
    assert (events.enabled, events.keep_days, events.max_mb, events.pre_s, events.post_s, events.clips) == \
        (True, 14.0, 1024.0, 5.0, 5.0, "auto")


@pytest.mark.parametrize("text, expected", [
    ('[events]\nclips = "always"\n', "<config>:2: [events] clips: "),
    ("[events]\nmax_mb = 0\n", "<config>:2: [events] max_mb: must be > 0"),
    ("[events]\npre_s = 61\n", "<config>:2: [events] pre_s: must be ≤ 60"),
    ('[events]\nkeep = 3\n', "<config>:2: [events] keep: unknown key 'keep'"),
    ('[web]\npublic_url = "cam.example"\n', "<config>:2: [web] public_url: "),
])
def test_messages(text, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert expected in str(info.value), str(info.value)


def test_public_url():
    assert parse_config('[web]\npublic_url = "https://cam.example/edgecam"\n').web.public_url == \
        "https://cam.example/edgecam"
