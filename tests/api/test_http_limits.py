"""Limits of a real server on 127.0.0.1: header size, header-read timeout, connection count."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ondemand._cli._http import HttpLimits, uvicorn_options
from tests.api._proc import free_port, kill, start_server

HEAD_TIMEOUT_S = 2.0
MAX_CONNECTIONS = 8


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A server with a 2 s head timeout and at most 8 connections; yields (port, pid)."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc (Linux) to read the server's memory")
    port = free_port()
    proc = start_server(
        f"sqlite:///{tmp_path / 'api.db'}",
        port,
        time.time(),
        "--head-timeout",
        str(HEAD_TIMEOUT_S),
        "--max-connections",
        str(MAX_CONNECTIONS),
    )
    try:
        yield port, proc.pid
    finally:
        kill(proc)


def _closed_by_server(sock: socket.socket, deadline: float) -> float | None:
    """Seconds until the server closed ``sock`` (reading b"" or a reset), or None by ``deadline``."""
    start = time.monotonic()
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - start
    return None


def test_limits_are_validated_and_reach_uvicorn() -> None:
    """HttpLimits refuses nonsense; uvicorn gets the header size, keep-alive and connection limits."""
    with pytest.raises(ValueError, match="max_head_bytes"):
        HttpLimits(max_head_bytes=10)
    opts = uvicorn_options(HttpLimits(max_head_bytes=4096, keep_alive_s=3, max_connections=9))
    assert (opts["h11_max_incomplete_event_size"], opts["timeout_keep_alive"], opts["limit_concurrency"]) == (
        4096,
        3,
        9,
    )
    assert opts["http"].__name__.startswith("Guarded")


@pytest.mark.slow
def test_a_32_mb_header_is_refused_early(server: tuple[int, int]) -> None:
    """A 32 MB header on /healthz is answered 431 after the first tens of KB; server memory stays flat."""
    port, pid = server
    before = _rss_kb(pid)
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        chunk = b"a" * 65536
        try:
            while sent < 32 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        try:
            while part := sock.recv(4096):
                answer += part
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    head, body = answer.split(b"\r\n\r\n", 1)
    assert f"content-length: {len(body)}".encode() in head
    assert b"32768 bytes" in body
    assert sent < 8 * 1024 * 1024  # the server closed long before 32 MB were sent
    assert _rss_kb(pid) - before < 20_000
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200


@pytest.mark.slow
def test_slow_loris_connections_are_closed(server: tuple[int, int]) -> None:
    """Connections that send nothing or drip a byte every 2 s are closed within the head timeout (+1 s)."""
    port, _ = server
    silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
    drips = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    start = time.monotonic()
    deadline = start + HEAD_TIMEOUT_S + 8
    closed: dict[int, float] = {}
    try:
        k = 0
        while len(closed) < 5 and time.monotonic() < deadline:
            for i, s in enumerate(drips):
                if 2 + i not in closed:
                    try:
                        s.send(head[k : k + 1] if k < len(head) else b"a")
                    except OSError:
                        closed[2 + i] = time.monotonic() - start
            k += 1
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
            for i, s in enumerate([*silent, *drips]):
                if i not in closed:
                    took = _closed_by_server(s, min(deadline, time.monotonic() + 2.0))
                    if took is not None:
                        closed[i] = time.monotonic() - start
    finally:
        for s in [*silent, *drips]:
            s.close()
    assert sorted(closed) == [0, 1, 2, 3, 4], closed
    assert max(closed.values()) < HEAD_TIMEOUT_S + 3.0, closed


@pytest.mark.slow
def test_connections_above_the_limit_get_503_until_idle_ones_are_closed(server: tuple[int, int]) -> None:
    """With 8 idle connections open, a request gets 503; after the head timeout frees them, 200 again."""
    port, _ = server
    opened = time.monotonic()
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(MAX_CONNECTIONS)]
    deadline = opened + 5 * HEAD_TIMEOUT_S + 10
    try:
        # the server counts a connection once its event loop has accepted it, which a busy machine
        # may delay: ask until it has (only the limit answers 503)
        codes: list[int] = []
        while not codes or (codes[-1] != 503 and time.monotonic() < deadline):
            with httpx.Client(timeout=5) as client:
                codes.append(client.get(f"http://127.0.0.1:{port}/healthz").status_code)
            time.sleep(0.05)
        assert codes[-1] == 503, f"{MAX_CONNECTIONS} idle connections open, yet /healthz answered {codes}"
        assert set(codes) <= {200, 503}, codes
        # the head timeout closes the idle ones (the server forgets a connection before closing it)
        assert all(_closed_by_server(s, deadline) is not None for s in idle), "idle connections kept open"
        with httpx.Client(timeout=5) as client:
            assert client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        for s in idle:
            s.close()
