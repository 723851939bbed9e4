"""The unit tier's socket guard is on: TCP and name resolution fail, Unix sockets work."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketBlockedError


def test_a_tcp_connection_is_refused_by_the_guard() -> None:
    with pytest.raises(SocketBlockedError):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_a_host_name_is_not_resolved() -> None:
    with pytest.raises(SocketBlockedError):
        socket.getaddrinfo("localhost", 443)


def test_unix_sockets_stay_allowed() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        left.sendall(b"ping")
        assert right.recv(4) == b"ping"
