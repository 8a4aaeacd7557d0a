"""Image files as a camera: a file, a directory or a glob, looped or played once (demo and tests).

Each photo is shown for ``[camera] hold_s`` seconds (default 2 when looping): the source hands out the
same picture as new frames until its time is up, as a camera looking at a still scene would, so the
tracker sees each object in several frames and confirms it.  With ``hold_s = 0`` every file is one
frame; :func:`hold_problem` says when the settings make confirmation impossible.

Frames are decoded with OpenCV (BGR) after the file is checked to be a regular file and its header's size
to be within ``[camera] max_pixels``; a file that fails is skipped with one warning. Pacing at ``fps`` is the capture thread's job: this source
is not ``live``, so the capture thread waits between reads instead of dropping frames.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from pathlib import Path

from edgecam.domain import Frame
from edgecam.errors import SourceError
from edgecam.files import FileProblem
from edgecam.sources.imagefile import read_image
from edgecam.sources.settings import ImagesSettings

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})


def image_files(directory: Path) -> list[Path]:
    """The image files directly in ``directory``, sorted ([] if it holds none)."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def list_images(path: str, base_dir: str | os.PathLike | None = None) -> list[str]:
    """The sorted image files ``path`` names (a file, a directory or a glob); [] if none."""
    expanded = os.path.expanduser(path)
    if base_dir is not None and not os.path.isabs(expanded):
        expanded = os.path.join(base_dir, expanded)
    if glob.has_magic(expanded):
        found = [p for p in glob.glob(expanded, recursive=True) if os.path.isfile(p)]
    elif os.path.isdir(expanded):
        found = [str(p) for p in image_files(Path(expanded))]
    elif os.path.isfile(expanded):
        found = [expanded]
    else:
        found = []
    return sorted(found)


class ImageFolderSource:
    """Plays image files as frames, in sorted order."""

    kind = "images"
    live = False

    def __init__(self, settings: ImagesSettings, base_dir: str | os.PathLike | None = None) -> None:
        self._settings = settings
        self._base_dir = base_dir
        self._files: list[str] = []
        self._next = 0
        self._index = 0
        self._bad: set[str] = set()
        self._hold = settings.hold_seconds
        self._held: tuple[str, object, float] | None = None  # (file, image, shown since, monotonic)
        self.name = f"images:{settings.path}"
        # Played once, the images are a batch: the capture thread hands over every one (no stale
        # frame dropping).  Looped, they stand in for a camera and fresher frames replace stale ones.
        self.lossless = not settings.loop

    @classmethod
    def from_settings(cls, settings: ImagesSettings, base_dir: str | os.PathLike | None = None) -> "ImageFolderSource":
        """The source of ``[camera]``; relative paths resolve against ``base_dir`` (the config's directory)."""
        return cls(settings, base_dir=base_dir)

    def open(self) -> None:
        files = list_images(self._settings.path, self._base_dir)
        if not files:
            raise SourceError(
                f"camera.path {self._settings.path!r} names no image files (a file, a directory of "
                f"{'/'.join(sorted(s[1:] for s in IMAGE_SUFFIXES))} images, or a glob); fix [camera] path"
            )
        self._files = files
        self._next = 0
        log.info("images source: %d file(s) from %s, loop=%s", len(files), self._settings.path, self._settings.loop)

    def read(self, timeout: float) -> Frame | None:
        if not self._files:
            raise SourceError("images source read before open(); call open() first")
        held = self._held
        if held is not None and time.monotonic() - held[2] < self._hold:
            return self._frame(held[1], held[0])
        for _ in range(len(self._files) + 1):
            if self._next >= len(self._files):
                if not self._settings.loop:
                    raise EOFError(f"all {len(self._files)} image(s) of {self._settings.path} played")
                self._next = 0
            path = self._files[self._next]
            self._next += 1
            try:
                image = read_image(path, self._settings.max_pixels, "images source:")
            except FileProblem as exc:
                if path not in self._bad:
                    self._bad.add(path)
                    log.warning("%s; skipping it", exc)
                if len(self._bad) >= len(self._files):
                    raise SourceError(f"none of the files at {self._settings.path!r} is a readable image")
                continue
            if self._hold > 0:
                self._held = (path, image, time.monotonic())
            return self._frame(image, path)
        raise SourceError(f"no readable image left at {self._settings.path!r}")

    def _frame(self, image, path: str) -> Frame:
        frame = Frame(image=image, index=self._index, timestamp=time.time(), pixel_format="BGR", source=path)
        self._index += 1
        return frame

    def close(self) -> None:
        self._files = []
        self._held = None


def hold_problem(settings: ImagesSettings, min_hits: int) -> str | None:
    """Why no object of a photo can ever be confirmed with these settings, or None: a held photo must be
    seen in ``min_hits`` frames, i.e. for at least ``min_hits / fps`` seconds.  ``hold_s = 0`` (one frame
    per file) is a sequence of frames, where the next files show the same objects: no warning."""
    hold = settings.hold_seconds
    if hold <= 0:
        return None
    frames = max(1, int(hold * settings.fps + 1e-9))
    if frames >= min_hits:
        return None
    needed = min_hits / settings.fps
    return (f"[camera] hold_s = {hold:g} at fps = {settings.fps:g} shows each photo in {frames} frame(s) but "
            f"[tracking] min_hits = {min_hits}: no object can be confirmed, so no events; "
            f"set hold_s >= {needed:g} (or min_hits = {frames})")
