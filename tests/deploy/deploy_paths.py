"""Paths shared by the deploy tests (imported by name: the test directories are not packages)."""

from __future__ import annotations

import sys
from pathlib import Path

from sharedkit import COCO128, IMAGES, MODELS, SHARED  # noqa: F401 (re-exported to the deploy tests)

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # `import deploy` (deploy/ is not part of the installed package)

WEIGHTS = MODELS / "yolov5ss.pt"
