"""The README is a manual a newcomer follows: short enough to read (under ~400 lines), and every file and
picture it links to exists in the checkout (the engineering logs it points to, the live-view screenshots)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_is_short_and_its_links_resolve():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 400
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert {"tests/data/screenshots/live-view.jpg", "deploy/dev/SPEED.md", "systemd/README.md"} <= set(local)
    missing = [t for t in local if not (REPO / t).exists()]
    assert missing == []
    for doc in ("deploy/dev/SPEED.md", "systemd/README.md", "edgecam/web/README.md", "edgecam/tracking/README.md",
                "edgecam/publishers/mqtt/README.md", "edgecam/sources/README.md", "edgecam/events/README.md",
                "tests/README.md"):
        for t in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", (REPO / doc).read_text()):
            if not re.match(r"[a-z]+://", t):
                assert (REPO / doc).parent.joinpath(t).exists(), (doc, t)
