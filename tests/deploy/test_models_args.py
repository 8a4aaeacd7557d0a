"""``python -m deploy models``: bad selection/size options are one-line usage errors (exit 2) before any work."""

from __future__ import annotations

import pytest

from deploy.__main__ import main


@pytest.mark.parametrize("extra, message", [
    (["--sizes", "320,300"], "multiples of 32"),
    (["--sizes", "320,abc"], "--sizes takes comma-separated integers"),
    (["--methods", "kl,foo"], "--methods: unknown foo"),
    (["--level", "1.5"], "--level must be between 0 and 1"),
    (["--bootstrap", "5"], "--bootstrap must be ≥ 20"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, capsys, extra, message):
    rc = main(["models", "--weights", str(tmp_path / "w.pt"), "--calib", str(tmp_path), "--out", str(tmp_path / "o"),
               *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
