"""Loading the .pt without the upstream repository, and refusing malicious pickles."""

from __future__ import annotations

import os
import pickle
import zipfile

import pytest
import torch

from deploy.checkpoint import CheckpointError, UnsafeCheckpointError, load_checkpoint, restricted_load

from deploy_paths import WEIGHTS


def test_rebuilds_model_from_yaml_with_checkpoint_metadata():
    ck = load_checkpoint(WEIGHTS)
    assert ck.strides == [8, 16, 32]
    assert ck.anchors[0] == [[4.0, 5.0], [8.0, 10.0], [13.0, 16.0]]
    assert ck.anchors[2] == [[146.0, 217.0], [231.0, 300.0], [335.0, 433.0]]
    assert len(ck.names) == 80 and ck.names[:3] == ["person", "bicycle", "car"]
    assert ck.activation == "ReLU"
    assert type(ck.model).__module__ == "deploy.yolo"
    with torch.no_grad():
        outs = ck.model(torch.zeros(1, 3, 256, 320))
    assert [tuple(o.shape) for o in outs] == [(1, 255, 32, 40), (1, 255, 16, 20), (1, 255, 8, 10)]


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _torch_zip(path, obj) -> None:
    """A torch-format zip checkpoint whose data.pkl is ``obj`` pickled (as torch.save lays it out)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(obj, protocol=2))
        zf.writestr("archive/version", "3\n")


@pytest.mark.parametrize("fmt", ["zip", "torch.save", "bare pickle"])
def test_malicious_pickle_is_refused_before_anything_runs(tmp_path, fmt):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    payload = {"model": _Evil(str(marker))}
    if fmt == "zip":
        _torch_zip(bad, payload)
    elif fmt == "torch.save":
        torch.save(payload, bad)
    else:
        bad.write_bytes(pickle.dumps(payload))
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system|os\.system|nt\.system"):
        load_checkpoint(bad)
    assert not marker.exists(), "the payload ran"


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("subprocess", "Popen"),
                                         ("models.common", "Evil"), ("torch", "load")])
def test_unexpected_globals_are_refused(tmp_path, module, name):
    # hand-written protocol-0 pickle: GLOBAL module name, then call it with no arguments
    data = f"c{module}\n{name}\n(tR.".encode()
    bad = tmp_path / "x.pt"
    _torch_zip_raw(bad, data)
    with pytest.raises(UnsafeCheckpointError, match=f"{module}.{name}"):
        restricted_load(bad)


def _torch_zip_raw(path, data: bytes) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data)


def test_error_is_one_clear_line_from_the_cli(tmp_path, capsys):
    from deploy.__main__ import main

    bad = tmp_path / "evil.pt"
    torch.save({"model": _Evil(str(tmp_path / "pwned"))}, bad)
    rc = main(["convert", "--weights", str(bad), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "refusing to load" in err and "untrusted" in err
    assert not (tmp_path / "pwned").exists()


def test_not_a_model_object(tmp_path):
    bad = tmp_path / "dict.pt"
    _torch_zip(bad, {"model": {"weights": [1, 2, 3]}})
    with pytest.raises(CheckpointError, match="expected a YOLOv5-style model object"):
        load_checkpoint(bad)
