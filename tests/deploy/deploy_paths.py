"""Paths shared by the deploy tests (imported by name: the test directories are not packages)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # `import deploy` (deploy/ is not part of the installed package)

SHARED = REPO.parent / "shared"
WEIGHTS = SHARED / "models" / "yolov5ss.pt"
COCO128 = SHARED / "datasets" / "coco128_train2017"
IMAGES = SHARED / "images"
