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
    (["--bias-images", "0"], "--bias-images must be ≥ 1"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, capsys, extra, message):
    rc = main(["models", "--weights", str(tmp_path / "w.pt"), "--calib", str(tmp_path), "--out", str(tmp_path / "o"),
               *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_bias_correction_modes_label_the_search_methods():
    from deploy.biascorr import split_method, with_modes

    assert with_modes(("kl", "mse"), "search") == ("kl", "kl+bc", "mse", "mse+bc")
    assert with_modes(("kl",), "on") == ("kl+bc",)
    assert with_modes(("kl",), "off") == ("kl",)
    assert split_method("auto+bc") == ("auto", True) and split_method("max") == ("max", False)
    with pytest.raises(ValueError, match="bias correction must be one of"):
        with_modes(("kl",), "maybe")
