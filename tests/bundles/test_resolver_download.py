"""Known names fall back to a download from the pinned URL, sha256-checked (served from loopback)."""

import functools
import http.server
import shutil
import threading

import pytest

from edgecam.bundles import resolver
from edgecam.errors import ModelError
from sharedkit import MODELS


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("EDGECAM_MODEL_DIR", raising=False)
    # hide ../shared/models so the resolver must download
    monkeypatch.setattr(resolver, "search_dirs", lambda: [resolver.cache_dir()])
    return cache


def test_download_into_cache_with_checksum(server, isolated, monkeypatch):
    root, url = server
    for ext in ("param", "bin"):
        shutil.copy(MODELS / f"yolov5ss.{ext}", root)
    monkeypatch.setenv("EDGECAM_MODEL_URL_BASE", url)
    bundle = resolver.resolve("yolov5ss")
    assert bundle.bin_path.parent == resolver.cache_dir()
    assert resolver.sha256_file(bundle.bin_path) == bundle.manifest.sha256["yolov5ss.bin"]
    resolver.validate(bundle)
    # second time comes from the cache, without the server
    (root / "yolov5ss.bin").unlink()
    assert resolver.resolve("yolov5ss").bin_path == bundle.bin_path


def test_download_with_wrong_checksum_is_refused_and_not_cached(server, isolated, monkeypatch):
    root, url = server
    shutil.copy(MODELS / "yolov5ss.param", root)
    (root / "yolov5ss.bin").write_bytes(b"evil" * 100)
    monkeypatch.setenv("EDGECAM_MODEL_URL_BASE", url)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        resolver.resolve("yolov5ss")
    assert not (resolver.cache_dir() / "yolov5ss.bin").exists()


def test_unreachable_download_names_the_fix(isolated, monkeypatch):
    monkeypatch.setenv("EDGECAM_MODEL_URL_BASE", "http://127.0.0.1:9")
    with pytest.raises(ModelError, match="EDGECAM_MODEL_DIR"):
        resolver.resolve("yolov5ss")


def test_corrupt_cache_entry_is_replaced(server, isolated, monkeypatch):
    root, url = server
    for ext in ("param", "bin"):
        shutil.copy(MODELS / f"yolov5ss.{ext}", root)
    cache = resolver.cache_dir()
    cache.mkdir(parents=True)
    shutil.copy(MODELS / "yolov5ss.param", cache)
    (cache / "yolov5ss.bin").write_bytes(b"corrupt")
    monkeypatch.setenv("EDGECAM_MODEL_URL_BASE", url)
    bundle = resolver.resolve("yolov5ss")
    assert resolver.sha256_file(bundle.bin_path) == bundle.manifest.sha256["yolov5ss.bin"]


def test_param_without_manifest_is_inferred():
    bundle = resolver.resolve(MODELS / "yolov5ss-int8.param")
    m = bundle.manifest
    # the heads' conv outputs: the seed's Reshape → Permute after each is skipped (same numbers, chw layout)
    assert [(h.blob, h.layout) for h in m.outputs] == [("878", "chw"), ("898", "chw"), ("918", "chw")]
    assert [h.stride for h in m.outputs] == [8, 16, 32]
    assert m.precision == "int8" and len(m.classes) == 80
