"""edgecam.runtime.logs: journald with structured fields under systemd, plain stderr otherwise."""

from __future__ import annotations

import builtins
import io
import logging
import os
import re

import pytest

from edgecam.runtime.logs import setup_logging, under_systemd


@pytest.fixture(autouse=True)
def clean_root_logger(monkeypatch):
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    yield
    for h in list(root.handlers):
        if h not in saved[0]:
            root.removeHandler(h)
    root.setLevel(saved[1])


def test_plain_stderr_format_outside_systemd():
    buf = io.StringIO()
    handler = setup_logging("debug", stream=buf)
    assert not type(handler).__name__.startswith("Journal")
    logging.getLogger("edgecam.test").info("hello %s", "world")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO edgecam\.test: hello world\n", buf.getvalue())
    assert logging.getLogger().level == logging.DEBUG


def test_setup_twice_replaces_its_handler():
    setup_logging(stream=io.StringIO())
    setup_logging(stream=io.StringIO())
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_edgecam_handler", False)]
    assert len(ours) == 1


def test_bad_level_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown log level 'loud'; use one of DEBUG"):
        setup_logging("loud")


def test_journal_stream_must_name_our_stderr(tmp_path):
    f = open(tmp_path / "stderr", "w")
    st = os.fstat(f.fileno())
    assert under_systemd({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, f)
    assert not under_systemd({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, f)  # inherited, redirected
    assert not under_systemd({"JOURNAL_STREAM": "garbage"}, f)
    assert under_systemd({"INVOCATION_ID": "0123abcd"}, f)
    assert not under_systemd({}, f)
    f.close()


def test_journald_under_systemd_with_structured_fields(monkeypatch):
    pytest.importorskip("systemd.journal", reason="systemd-python is part of the [systemd] extra")
    monkeypatch.setenv("INVOCATION_ID", "5f0c1e2d")
    sent: list[tuple[str, dict]] = []

    def sender(MESSAGE, **fields):  # same signature as systemd.journal.send (no journald in this container)
        sent.append((MESSAGE, fields))

    handler = setup_logging("info", fields={"camera": "frontdoor"}, journal_sender=sender)
    assert type(handler).__name__ == "JournalHandler"
    log = logging.getLogger("edgecam.pipeline")
    log.warning("camera stalled for %d s", 5, extra={"TRACK_ID": 7})
    log.debug("not sent: below INFO")
    assert len(sent) == 1
    message, fields = sent[0]
    assert message == "camera stalled for 5 s"  # no timestamp: journald stamps records itself
    assert fields["SYSLOG_IDENTIFIER"] == "edgecam"
    assert fields["CAMERA"] == "frontdoor"
    assert fields["PRIORITY"] == "4"
    assert fields["LOGGER"] == "edgecam.pipeline"
    assert fields["TRACK_ID"] == 7
    assert fields["CODE_FUNC"] == "test_journald_under_systemd_with_structured_fields"


def test_journald_forced_off_under_systemd_gives_plain_format(monkeypatch):
    monkeypatch.setenv("INVOCATION_ID", "5f0c1e2d")
    buf = io.StringIO()
    setup_logging(journald=False, stream=buf)
    logging.getLogger("edgecam.x").error("boom")
    assert re.fullmatch(r"\S+ \S+ ERROR edgecam\.x: boom\n", buf.getvalue())


def test_under_systemd_without_systemd_python_uses_syslog_prefixes(monkeypatch):
    monkeypatch.setenv("INVOCATION_ID", "5f0c1e2d")
    real_import = builtins.__import__

    def no_systemd(name, *args, **kwargs):
        if name == "systemd" or name.startswith("systemd."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_systemd)
    buf = io.StringIO()
    setup_logging("info", stream=buf)
    log = logging.getLogger("edgecam.y")
    log.info("started")
    try:
        raise RuntimeError("bad frame")
    except RuntimeError:
        log.exception("capture failed")
    lines = buf.getvalue().splitlines()
    assert lines[0] == "<4>edgecam.runtime.logs: systemd-python is not installed (pip install systemd-python); logging to stderr"
    assert lines[1] == "<6>edgecam.y: started"
    assert lines[2] == "<3>edgecam.y: capture failed"
    assert all(l.startswith("<3>") for l in lines[3:]) and any("RuntimeError: bad frame" in l for l in lines)
