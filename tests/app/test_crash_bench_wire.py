"""The crash benchmark's count of answers on the wire at a kill: received by the client's socket, not read yet."""

from __future__ import annotations

import socket
import time

from bench.crash_bench import unread_answers


def _until(count: int, port: int) -> int:
    for _ in range(200):
        if unread_answers(port) == count:
            break
        time.sleep(0.01)
    return unread_answers(port)


def test_an_answer_is_on_the_wire_until_the_client_reads_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            peer, _ = server.accept()
            with peer:
                client.sendall(b"POST /send")
                assert peer.recv(64) == b"POST /send"
                assert _until(0, port) == 0, "a request the API has read is not an unread answer"
                peer.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
                assert _until(1, port) == 1
                client.recv(64)
                assert _until(0, port) == 0
