"""gateway/stores/tree/options.py and the sftp/ftp option models: URIs, a password moved out of
the URI, host-key and plain-FTP warnings, and what asyncssh is given."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from gateway.config import load_settings
from gateway.stores import create_store, default_options, parse_options
from gateway.stores.ftp import FtpOptions, tls_context
from gateway.stores.options import InvalidDestination
from gateway.stores.sftp import SftpOptions, connection_arguments
from gateway.stores.tree.store import TreeStore


@pytest.fixture
def settings(tmp_path):
    return load_settings(["--artifacts-destination", str(tmp_path)])


def test_a_password_in_the_uri_becomes_a_secret_and_leaves_the_uri():
    options = parse_options({"uri": "ftp://ada:s%40cret@files.example:2121/ml"})
    assert isinstance(options, FtpOptions)
    assert options.uri == "ftp://ada@files.example:2121/ml"
    assert options.password is not None and options.password.get_secret_value() == "s@cret"
    assert "s@cret" not in repr(options) and options.secrets() == ["s@cret"]
    assert options.host_port_path(21) == ("files.example", 2121, "/ml")
    assert options.user() == "ada"
    implicit = default_options("sftp://bob:pw@host/data")
    assert implicit.uri == "sftp://bob@host/data" and implicit.secrets() == ["pw"]


def test_a_password_in_the_uri_and_in_the_options_is_refused():
    with pytest.raises(ValidationError, match="not both"):
        parse_options({"uri": "ftp://ada:x@host/ml", "password": "y"})


def test_sftp_keys_reach_asyncssh_and_host_keys_are_checked_by_default(tmp_path):
    options = SftpOptions(
        uri="sftp://ada@host:2222/srv/ml",
        private_key_file=tmp_path / "id",
        known_hosts_file=tmp_path / "kh",
        password="pw",
    )
    assert connection_arguments(options) == {
        "username": "ada",
        "known_hosts": str(tmp_path / "kh"),
        "client_keys": [str(tmp_path / "id")],
        "password": "pw",
    }
    assert "known_hosts" not in connection_arguments(SftpOptions(uri="sftp://ada@host/x"))
    unchecked = SftpOptions(uri="sftp://ada@host/x", check_host_key=False)
    assert connection_arguments(unchecked)["known_hosts"] is None


def test_turning_host_key_checks_off_logs_a_warning(settings, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.stores.sftp"):
        store = create_store(parse_options({"uri": "sftp://ada@host/x"}), settings)
    assert isinstance(store, TreeStore) and store.endpoint == "host:22" and store.base == "/x"
    assert caplog.records == []
    with caplog.at_level(logging.WARNING, logger="gateway.stores.sftp"):
        create_store(parse_options({"uri": "sftp://ada@host/x", "check_host_key": False}), settings)
    assert "check_host_key is false" in caplog.text


def test_sftp_needs_a_user(settings):
    with pytest.raises(InvalidDestination, match="give the user"):
        create_store(parse_options({"uri": "sftp://host/x"}), settings)


def test_plain_ftp_with_a_password_warns_that_it_goes_in_clear(settings, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.stores.ftp"):
        create_store(parse_options({"uri": "ftp://ada:pw@host/ml"}), settings)
    assert "in clear" in caplog.text and ":pw" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gateway.stores.ftp"):
        create_store(parse_options({"uri": "ftps://ada:pw@host/ml"}), settings)
        create_store(parse_options({"uri": "ftp://ada@host/ml", "tls": True}), settings)
    assert caplog.records == []


def test_ftps_is_explicit_tls_that_cannot_be_turned_off(settings):
    assert tls_context(FtpOptions(uri="ftps://ada@host/ml")) is not None
    assert tls_context(FtpOptions(uri="ftp://ada@host/ml")) is None
    with pytest.raises(InvalidDestination, match="always uses TLS"):
        create_store(parse_options({"uri": "ftps://ada@host/ml", "tls": False}), settings)
    store = create_store(parse_options({"uri": "ftps://ada@host/ml"}), settings)
    assert store.endpoint == "host:21"
