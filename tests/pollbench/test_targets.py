"""Load targets: loopback always, anything else only with --allow-remote, bad URLs refused clearly."""

from __future__ import annotations

import pytest

from pollbench.commands import CommandError
from pollbench.targets import check_target, is_loopback_host


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.5.0.1:80/", "http://[::1]:8080", "http://localhost:8080"]
)
def test_loopback_targets_are_accepted(url: str) -> None:
    assert check_target(url) == url.rstrip("/")


@pytest.mark.parametrize("url", ["http://10.0.0.5:8080", "http://192.168.1.2:80", "http://example.com:80"])
def test_remote_targets_are_refused_with_the_reason(url: str) -> None:
    with pytest.raises(CommandError, match="only to loopback.*--allow-remote"):
        check_target(url)


def test_allow_remote_lets_a_remote_target_through_without_contacting_it() -> None:
    assert check_target("http://10.0.0.5:8080/", allow_remote=True) == "http://10.0.0.5:8080"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1:8080", "must look like"),
        ("https://127.0.0.1:8080", "must look like"),
        ("http://127.0.0.1", "explicit port"),
        ("http://127.0.0.1:99999", "explicit port"),
        ("http://127.0.0.1:8080/api", "bare base URL"),
    ],
)
def test_malformed_targets_are_refused(url: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        check_target(url, allow_remote=True)


def test_the_flag_name_appears_in_the_error() -> None:
    with pytest.raises(CommandError, match="--target"):
        check_target("nonsense", flag="--target")


def test_hostnames_other_than_localhost_are_not_loopback() -> None:
    assert is_loopback_host("LOCALHOST") and is_loopback_host("::1")
    assert not is_loopback_host("loopback.example")
