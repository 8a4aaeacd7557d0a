"""Secrets from a file, an environment variable or a systemd credential."""

import os

import pytest

from edgecam.errors import ConfigError
from edgecam.secrets import resolve_secret


def test_nothing_set_is_none():
    assert resolve_secret(None, None, None) is None
    assert resolve_secret("", "", "") is None


def test_file_strips_trailing_newline_only(tmp_path):
    f = tmp_path / "pw"
    f.write_text("  p@ss word \n")
    assert resolve_secret(str(f), None, None) == "  p@ss word "
    f.write_text("crlf\r\n")
    assert resolve_secret(str(f), None, None) == "crlf"


def test_file_wins_over_env(tmp_path, monkeypatch):
    f = tmp_path / "pw"
    f.write_text("from-file")
    monkeypatch.setenv("EDGECAM_T_PW", "from-env")
    assert resolve_secret(str(f), "EDGECAM_T_PW", None) == "from-file"
    assert resolve_secret(None, "EDGECAM_T_PW", None) == "from-env"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"mqtt password file .*/nope does not exist; create it"):
        resolve_secret(str(tmp_path / "nope"), None, None, what="mqtt password")


def test_empty_file_and_directory(tmp_path):
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        resolve_secret(str(tmp_path / "empty"), None, None)
    with pytest.raises(ConfigError, match="is a directory"):
        resolve_secret(str(tmp_path), None, None)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    f = tmp_path / "pw"
    f.write_text("x")
    f.chmod(0)
    with pytest.raises(ConfigError, match="not readable"):
        resolve_secret(str(f), None, None)


def test_env_unset_and_empty(monkeypatch):
    monkeypatch.delenv("EDGECAM_T_PW", raising=False)
    with pytest.raises(ConfigError, match="environment variable EDGECAM_T_PW is not set"):
        resolve_secret(None, "EDGECAM_T_PW", None)
    monkeypatch.setenv("EDGECAM_T_PW", "")
    with pytest.raises(ConfigError, match="is empty"):
        resolve_secret(None, "EDGECAM_T_PW", None)


def test_systemd_credential(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    (tmp_path / "mqtt_password").write_text("cred\n")
    assert resolve_secret(None, None, "mqtt_password") == "cred"
    with pytest.raises(ConfigError, match="credential file .*/other does not exist"):
        resolve_secret(None, None, "other")
    with pytest.raises(ConfigError, match="credential name '../x' is invalid"):
        resolve_secret(None, None, "../x")


def test_credential_without_directory(monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(ConfigError, match=r"needs \$CREDENTIALS_DIRECTORY.*LoadCredential=mqtt_password:"):
        resolve_secret(None, None, "mqtt_password")
