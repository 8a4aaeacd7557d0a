"""The live view against hostile clients (issue 23): slowloris, malformed bodies, lenient Host and
target forms, password guessing — the real server on loopback, real sockets."""

from __future__ import annotations

import json
import logging
import re
import select
import socket
import time

import pytest

from webkit import raw_request, request, status_of

JSON = {"Content-Type": "application/json"}
HEAD = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def _post_raw(view, path: bytes, body: bytes, length: bytes | None = None, extra: bytes = b"") -> bytes:
    cl = b"Content-Length: " + (length if length is not None else str(len(body)).encode()) + b"\r\n"
    return raw_request(view, HEAD % path + cl + extra + b"\r\n" + body)


MALFORMED_BODIES = {
    "8000 open brackets": b"[" * 8000,
    "8000 nested arrays": b"[" * 8000 + b"]" * 8000,
    "deep object": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "4000-digit point": b'{"points": [[' + b"1" * 4000 + b', 1], [0, 0], [1, 1]]}',
    "5000-digit conf": b'{"conf": ' + b"9" * 5000 + b"}",
    "5000-digit float conf": b'{"conf": 0.' + b"9" * 5000 + b"}",
    "1e999 conf": b'{"conf": 1e999}',
    "NaN conf": b'{"conf": NaN}',
    "not UTF-8": b'{"conf": "\xff"}',
    "a list": b"[1, 2]",
    "conf as a string": b'{"conf": "0.5"}',
    "detection as a number": b'{"detection": 1}',
}


@pytest.mark.parametrize("path", [b"/api/controls", b"/api/zones/preview"])
def test_each_malformed_body_gets_a_4xx_and_the_server_runs_on(live_view, path, caplog):
    view = live_view()
    for name, body in MALFORMED_BODIES.items():
        answer = _post_raw(view, path, body)
        assert 400 <= status_of(answer) < 500, (name, answer[:200])
        assert b'"error"' in answer, name
    assert view.controls.conf == 0.45
    assert request(view, "GET", "/api/controls").status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text[-2000:]


@pytest.mark.parametrize("length", [b"\xc2\xb2", b"-1", b"1e3", b"0x10", b"", b"12 34", b"9" * 30])
def test_a_bad_content_length_is_400(live_view, length):
    view = live_view()
    answer = _post_raw(view, b"/api/controls", b'{"conf": 0.5}', length=length)
    assert status_of(answer) == 400, answer[:200]
    assert view.controls.conf == 0.45


def test_two_content_lengths_are_400(live_view):
    view = live_view()
    answer = _post_raw(view, b"/api/controls", b'{"conf": 0.5}', extra=b"Content-Length: 13\r\n")
    assert status_of(answer) == 400 and view.controls.conf == 0.45


@pytest.mark.parametrize("host, status", [
    ("127.0.0.1", 200), ("127.0.0.1:8080", 200), ("localhost:1", 200), ("[::1]", 200), ("[::1]:8080", 200),
    ("[::1]evil.com", 400), ("[::1]:80evil", 400), ("[evil.com]", 400), ("127.0.0.1:99999", 400),
    ("127.0.0.1:", 400), ("127.0.0.1 evil", 400), ("", 400), ("user@127.0.0.1", 400), ("[::1", 400),
    ("evil.example", 403), ("evil.example:8080", 403),
])
def test_host_variants(live_view, host, status):
    view = live_view()
    answer = raw_request(view, b"GET /api/zones HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
    assert status_of(answer) == status, answer[:200]


def test_two_host_headers_or_none_are_400(live_view):
    view = live_view()
    two = raw_request(view, b"GET /api/zones HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1\r\n\r\n")
    assert status_of(two) == 400
    two = raw_request(view, b"GET /api/zones HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n")
    assert status_of(two) == 400
    assert status_of(raw_request(view, b"GET /api/zones HTTP/1.1\r\n\r\n")) == 400


@pytest.mark.parametrize("target", [b"http://127.0.0.1/api/zones", b"*", b"127.0.0.1:80", b"api/zones",
                                    b"/api/zones\x7f"])
def test_only_origin_form_targets(live_view, target):
    view = live_view()
    answer = raw_request(view, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status_of(answer) == 400, answer[:200]
    # http.server itself folds a leading "//" into "/" (no open redirect): a path, not a host
    assert status_of(raw_request(view, b"GET //evil/api/zones HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) == 404


def test_a_login_burst_is_logged_and_answered_429(live_view, tmp_path, caplog):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    view = live_view(password_file=str(pw))
    caplog.set_level(logging.WARNING, logger="edgecam.web")
    assert request(view, "GET", "/api/stats").status == 401  # no credentials: not a failed login
    for _ in range(9):
        assert request(view, "GET", "/api/stats", auth=("edgecam", "guess")).status == 401
    assert request(view, "GET", "/api/stats", auth=("edgecam", "s3cret")).status == 200  # 9 failures: still in
    r = request(view, "GET", "/api/stats", auth=("root", "guess"))  # the 10th within a minute
    assert r.status == 401
    r = request(view, "GET", "/api/stats", auth=("edgecam", "s3cret"))  # blocked, even with the password
    assert r.status == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    assert request(view, "GET", "/api/stats", auth=("edgecam", "guess")).status == 429
    # another address is not blocked
    assert request(view, "GET", "/api/stats", auth=("edgecam", "s3cret"), source="127.0.0.2").status == 200
    failed = [r.getMessage() for r in caplog.records if "failed login from 127.0.0.1" in r.getMessage()]
    assert len(failed) == 1 and "'edgecam'" in failed[0]  # logged once, the repeats counted
    burst = [r.getMessage() for r in caplog.records if "10 failed logins from 127.0.0.1" in r.getMessage()]
    assert len(burst) == 1 and "429" in burst[0]
    stats = json.loads(request(view, "GET", "/api/stats", auth=("edgecam", "s3cret"), source="127.0.0.2").body)
    assert stats["web_failed_logins"] == 10


def test_guesses_on_one_kept_alive_connection_are_throttled_too(live_view, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    view = live_view(password_file=str(pw))
    guess = b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ZWRnZWNhbTp4\r\n\r\n"
    statuses = []
    with socket.create_connection((view.host, view.port), timeout=20) as s:
        s.sendall(guess * 12)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429  # then the connection is closed


@pytest.mark.slow
def test_slowloris_cannot_lock_out_a_normal_client(live_view):
    """20 connections from one address dribbling header bytes: each is answered 503 (over its address's
    cap) or 408 (the head deadline) while a client from another address is served every time."""
    view = live_view(max_connections=16, max_connections_per_address=8, head_timeout_s=1.5, client_timeout_s=10.0)
    attackers = []
    for _ in range(20):
        s = socket.create_connection((view.host, view.port), timeout=10)
        s.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        attackers.append(s)
    server = view.publisher.server
    view.wait(lambda: server.refused_connections == 12, 10, "the connections over the address's cap refused")
    answers: dict[socket.socket, bytes] = {}
    served = []
    end = time.monotonic() + 12.0  # the attack's bounded length (the server's deadline is 1.5 s)
    try:
        while time.monotonic() < end and len(answers) < len(attackers):
            readable, _, _ = select.select([s for s in attackers if s not in answers], [], [], 0.25)
            for s in readable:
                try:
                    answers[s] = s.recv(200)
                except OSError as exc:
                    answers[s] = repr(exc).encode()
            for s in attackers:
                if s not in answers:
                    try:
                        s.sendall(b"X")  # one more byte of an endless header line
                    except OSError as exc:
                        answers[s] = repr(exc).encode()
            served.append(request(view, "GET", "/api/zones", source="127.0.0.2", timeout=10).status)
    finally:
        for s in attackers:
            s.close()
    statuses = sorted(status_of(a) for a in answers.values())
    assert len(answers) == 20, f"{20 - len(answers)} slow connections still open when the attack ended"
    assert statuses.count(503) >= 12 and set(statuses) <= {408, 503}, statuses
    assert served and set(served) == {200}, served
    print(f"slowloris: {statuses.count(408)} answered 408, {statuses.count(503)} answered 503; "
          f"{len(served)} normal requests served meanwhile")


def test_a_refused_body_is_never_parsed_as_the_next_request(live_view, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    view = live_view(password_file=str(pw))
    smuggled = b"GET /api/controls HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    post = (b"POST /api/controls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(smuggled)) + smuggled
    with socket.create_connection((view.host, view.port), timeout=20) as s:
        s.sendall(post)  # refused 401 before its body is read; the body must not become a request
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"401"], data[:300]


def test_a_body_that_never_completes_is_answered_408(live_view):
    view = live_view(head_timeout_s=1.0, client_timeout_s=30.0)
    with socket.create_connection((view.host, view.port), timeout=30) as s:
        s.sendall(b"POST /api/controls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"conf\":")
        answer = s.recv(200)  # well before client_timeout_s: the body has the head's deadline
    assert status_of(answer) == 408, answer
    assert view.controls.conf == 0.45
