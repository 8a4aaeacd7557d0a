"""Where the read-only ../shared data is (models, images, COCO128): one definition for every test and kit.

Imported by name (the test directories are not packages); inside a test prefer the ``shared_dir``,
``horse`` and ``detector`` fixtures of ``conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IMAGES = SHARED / "images"
HORSE = IMAGES / "horse.jpg"  # person, dog, horse
MODELS = SHARED / "models"
COCO128 = SHARED / "datasets" / "coco128_train2017"
