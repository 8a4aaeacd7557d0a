"""``redact_url``: the one redaction used by logs, ``check``, stats and MQTT, against the URL forms FFmpeg
accepts (its ``av_url_split``: the userinfo runs to the last ``@`` before the first ``/``, ``?`` or ``#``)."""

from __future__ import annotations

import logging
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecam.redact import redact_url
from edgecam.runtime.logs import RedactingFilter


@pytest.mark.parametrize("url, shown", [
    ("rtsp://cam:p@ss:w0rd@host/cam", "rtsp://cam:***@host/cam"),  # the leak: @ and : in the password
    ("rtsp://bob:hunter2@cam.local:554/stream", "rtsp://bob:***@cam.local:554/stream"),
    ("rtsps://bob:x@cam:322/s?token=1", "rtsps://bob:***@cam:322/s?token=1"),
    ("http://admin:pw@192.168.1.9/video.mjpg", "http://admin:***@192.168.1.9/video.mjpg"),
    ("https://u:p@cam.example/live#x", "https://u:***@cam.example/live#x"),
    ("rtsp://user:pa@ss@[fe80::1]:554/h264", "rtsp://user:***@[fe80::1]:554/h264"),  # IPv6 host
    ("rtsp://user:p%40ss%3Aw@[::1]/x", "rtsp://user:***@[::1]/x"),  # percent-encoded
    ("rtsp://us%40er:secret@cam/x", "rtsp://us%40er:***@cam/x"),
    ("http://tok3n@cam/x", "http://***@cam/x"),  # userinfo without a password: often a token, hidden whole
    ("rtsp://cam:554/stream", "rtsp://cam:554/stream"),  # no userinfo
    ("rtsp://[::1]:8554/cam", "rtsp://[::1]:8554/cam"),
    ("rtsp://u:p@host", "rtsp://u:***@host"),  # no path
    ("rtsp://u:p@host?x=1", "rtsp://u:***@host?x=1"),
    ("see rtsp://a:b@h/ and http://c:d@i/", "see rtsp://a:***@h/ and http://c:***@i/"),
    ("rtsp://a:b@h and http://c:d@i/", "rtsp://a:***@h and http://c:***@i/"),  # a URL without path, then another
    ("cannot open 'rtsp://u:p@h:1/x' with OpenCV", "cannot open 'rtsp://u:***@h:1/x' with OpenCV"),
    ("Server returned 401 Unauthorized: 'rtsp://cam:p@ss:w0rd@127.0.0.1:8554/cam'",
     "Server returned 401 Unauthorized: 'rtsp://cam:***@127.0.0.1:8554/cam'"),
    ("no URL here: mail bob@example.com", "no URL here: mail bob@example.com"),
])
def test_url_forms(url, shown):
    assert redact_url(url) == shown


_PASSWORD = st.text(alphabet=string.ascii_letters + string.digits + "@:%!$&'()*+,;=-._~ ", min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(user=st.text(alphabet=string.ascii_letters + string.digits + "%-._~", max_size=8), password=_PASSWORD,
       scheme=st.sampled_from(["rtsp", "rtsps", "http", "https"]),
       host=st.sampled_from(["cam", "10.0.0.7:554", "[::1]:8554", "[fe80::1%25eth0]"]),
       tail=st.sampled_from(["", "/stream", "/a/b?c=d@e", "?x", "#f", "' failed: bob@example"]),
       before=st.sampled_from(["", "cannot open '", "camera x: "]))
def test_no_password_survives(user, password, scheme, host, tail, before):
    secret = f"<{password}>"  # delimited, so it cannot occur by chance in the rest of the text
    text = f"{before}{scheme}://{user}:{secret}@{host}{tail}"
    shown = redact_url(text)
    assert secret not in shown and password.split("@")[-1] + ">" not in shown
    assert shown.startswith(f"{before}{scheme}://{user}:***@")


def test_the_log_filter_hides_credentials_in_messages_and_tracebacks():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "opening %s failed", ("rtsp://c:p@ss@h/x",), None)
    try:
        raise OSError("refused: 'rtsp://c:p@ss@h/x'")
    except OSError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "p@ss" not in formatted and "ss@h" not in formatted
    assert "opening rtsp://c:***@h/x failed" in formatted and "refused: 'rtsp://c:***@h/x'" in formatted
