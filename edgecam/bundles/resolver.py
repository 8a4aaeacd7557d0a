"""Resolve a model reference (CONTRACT §2) to checked files on disk.

A reference is a bundle directory (``model.json`` inside), a ``.param`` path, or a known name.
Known names are looked up in ``$EDGECAM_MODEL_DIR``, the user cache, the service's model directory
(``/var/lib/edgecam/models``), then downloaded from the pinned upstream URL.  Every file with a pinned sha256 is
checked, and every model is validated structurally before ncnn sees it (ncnn segfaults on some
malformed files).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from edgecam.bundles.manifest import Manifest, infer_manifest, load_manifest, manifest_from_dict
from edgecam.bundles.ncnnfile import ParamFile, parse_param, walk_bin
from edgecam.errors import ModelError
from edgecam.files import MiB, FileProblem, check_regular_file, read_regular_file

log = logging.getLogger(__name__)

SYSTEM_MODEL_DIR = Path("/var/lib/edgecam/models")  # where the service (and `make push`) keeps models


@dataclass(frozen=True)
class Bundle:
    manifest: Manifest
    param_path: Path
    bin_path: Path

    @property
    def name(self) -> str:
        return self.manifest.name


def known_names() -> list[str]:
    return sorted(p.name[:-5] for p in _known_dir().iterdir() if p.name.endswith(".json"))


def _known_dir():
    return resources.files("edgecam.known_models")


def known_manifest(name: str) -> Manifest | None:
    res = _known_dir() / f"{name}.json"
    if not res.is_file():
        return None
    return manifest_from_dict(json.loads(res.read_text()), f"models/{name}.json")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgecam" / "models"


def search_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("EDGECAM_MODEL_DIR"):
        dirs.append(Path(os.environ["EDGECAM_MODEL_DIR"]))
    dirs.append(cache_dir())
    dirs.append(SYSTEM_MODEL_DIR)
    return dirs


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


MAX_PARAM_BYTES = 16 * MiB
MAX_BIN_BYTES = 1024 * MiB  # the largest YOLO weights at fp32 are ~350 MB


def _model_file(path: Path, what: str) -> None:
    """A model file must be a regular file (a FIFO or device would hang the reads below)."""
    try:
        check_regular_file(path, what)
    except FileProblem as exc:
        raise ModelError(str(exc)) from None


def _check_sha(path: Path, expected: str) -> None:
    _model_file(path, "model file")
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ModelError(
            f"{path}: sha256 mismatch (expected {expected[:12]}…, got {actual[:12]}…); the file is corrupt or "
            "not the pinned model — delete it so it is fetched again, or fix the manifest's sha256"
        )


def _download(url: str, dest: Path, expected: str) -> None:
    base = os.environ.get("EDGECAM_MODEL_URL_BASE")
    if base:
        url = base.rstrip("/") + "/" + dest.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s → %s", url, dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
        _check_sha(Path(tmp), expected)
        os.replace(tmp, dest)
    except OSError as exc:
        raise ModelError(
            f"could not download {url} ({exc}); copy {dest.name} into {dest.parent} or set EDGECAM_MODEL_DIR"
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _resolve_known(name: str, manifest: Manifest) -> Bundle:
    files = (manifest.param, manifest.bin)
    for d in search_dirs():
        paths = [d / f for f in files]
        if not all(p.is_file() for p in paths):
            continue
        if d == cache_dir():
            try:
                for p in paths:
                    _check_sha(p, manifest.sha256[p.name])
            except ModelError as exc:
                log.warning("%s; removing the cached copy and looking further", exc)
                for p in paths:
                    p.unlink(missing_ok=True)
                continue
        else:
            for p in paths:
                _check_sha(p, manifest.sha256[p.name])
        return Bundle(manifest, paths[0], paths[1])
    dest = cache_dir()
    for f in files:
        if f not in manifest.urls:
            raise ModelError(f"model {name!r}: {f} not found in {', '.join(map(str, search_dirs()))} and no URL is pinned")
        _download(manifest.urls[f], dest / f, manifest.sha256[f])
    return Bundle(manifest, dest / files[0], dest / files[1])


def _read_param(path: Path) -> ParamFile:
    if not path.exists() and not path.is_symlink():
        raise ModelError(f"{path}: .param file not found; check the model path")
    try:
        data = read_regular_file(path, "model .param", MAX_PARAM_BYTES)
    except FileProblem as exc:
        raise ModelError(str(exc)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError(f"{path}: not a text .param file (binary .param is not supported); pass the text .param") from None
    return parse_param(text, str(path))


def resolve(ref: str | os.PathLike) -> Bundle:
    """Resolve and sha256-check a model reference; raises ModelError (exit 2) with the fix."""
    ref_s = str(ref)
    path = Path(ref_s).expanduser()
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        pass  # absent: a known name, or "not found" below
    except OSError as exc:  # a name too long, a symlink loop, no permission on a parent
        shown = ref_s if len(ref_s) <= 120 else ref_s[:60] + "…" + ref_s[-40:]
        raise ModelError(f"model {shown}: {exc.strerror or exc}; fix the model path") from None
    if path.is_dir():
        if not os.path.lexists(path / "model.json"):
            raise ModelError(f"{path}: no model.json in this directory; a bundle directory needs its manifest")
        manifest = load_manifest(path / "model.json")
        bundle = Bundle(manifest, path / manifest.param, path / manifest.bin)
        for f, digest in manifest.sha256.items():
            if not os.path.lexists(path / f):
                raise ModelError(f"{path / f}: missing from the bundle; re-copy the bundle directory")
            _check_sha(path / f, digest)
        return bundle
    if ref_s.endswith(".param") or os.path.lexists(path):
        if not os.path.lexists(path):
            raise ModelError(f"{path}: model file not found; pass a bundle directory, a .param path or one of {', '.join(known_names())}")
        _model_file(path, "model .param")
        bin_path = path.with_suffix(".bin")
        side = path.with_suffix(".json")
        if os.path.lexists(side):
            manifest = load_manifest(side)
            bundle = Bundle(manifest, path.parent / manifest.param, path.parent / manifest.bin)
            for f, digest in manifest.sha256.items():
                _check_sha(path.parent / f, digest)
            return bundle
        param = _read_param(path)
        defaults = known_manifest("yolov5ss")
        manifest = infer_manifest(param, path.name, bin_path.name, defaults)
        return Bundle(manifest, path, bin_path)
    known = known_manifest(ref_s) if "/" not in ref_s else None
    if known is not None:
        return _resolve_known(ref_s, known)
    raise ModelError(
        f"model {ref_s!r} not found: not a directory, .param file or known name ({', '.join(known_names())})"
    )


def validate(bundle: Bundle) -> ParamFile:
    """Structural checks so ncnn never sees a malformed model: param parses, bin size matches, blobs exist."""
    m = bundle.manifest
    if not os.path.lexists(bundle.bin_path):
        raise ModelError(f"{bundle.bin_path}: .bin weights file not found beside {bundle.param_path.name}")
    param = _read_param(bundle.param_path)
    try:
        data = read_regular_file(bundle.bin_path, "model .bin", MAX_BIN_BYTES)
    except FileProblem as exc:
        raise ModelError(str(exc)) from None
    try:
        walk_bin(param, data, str(bundle.bin_path))
    except NotImplementedError as exc:
        log.warning("%s: cannot verify .bin size (layer type %s not modelled); loading anyway", bundle.bin_path, exc)
    blobs = set(param.blobs)
    for blob in (m.input, *(h.blob for h in m.outputs)):
        if blob not in blobs:
            raise ModelError(
                f"{bundle.param_path}: blob {blob!r} named by the manifest does not exist in the graph; "
                "fix the manifest's input/outputs"
            )
    want = None
    for head in m.outputs:
        want = len(head.anchors) * (5 + m.num_classes)
        layer = param.producer(head.blob)
        while layer is not None and layer.type in ("Permute", "Reshape"):
            layer = param.producer(layer.bottoms[0])
        if layer is None or layer.type != "Convolution" or layer.int(0) != want:
            got = f"{layer.type} with {layer.int(0)} channels" if layer is not None else "nothing"
            raise ModelError(
                f"{bundle.param_path}: output {head.blob!r} is not a YOLOv5 head (expected a Convolution with "
                f"{len(head.anchors)}×(5+{m.num_classes})={want} channels, found {got}); check the model and its classes"
            )
    return param
