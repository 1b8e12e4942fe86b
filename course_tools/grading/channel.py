"""The guard's channel: a loopback socket that accepts one connection (the guard's, made
before any student code runs) and verifies every line: HMAC-SHA256 with a key only this
process and the guard know, and consecutive sequence numbers. Anything else is recorded
as a problem, which makes the row ``flagged``."""
from __future__ import annotations

import ast
import hashlib
import hmac
import socket
import threading

MAX_CHANNEL_BYTES = 32 * 2**20


class Channel(threading.Thread):
    """Receives and verifies the guard's messages (one connection, HMAC, sequence)."""

    def __init__(self, key: bytes):
        super().__init__(daemon=True)
        self.key = key
        self.srv = socket.create_server(("127.0.0.1", 0), backlog=1)
        self.srv.settimeout(0.5)
        self.port = self.srv.getsockname()[1]
        self.messages: list[tuple[str, object]] = []
        self.problems: list[str] = []
        self.stop = threading.Event()
        self.connected = False

    def of_kind(self, kind: str) -> list:
        return [p for k, p in self.messages if k == kind]

    def close(self) -> None:
        self.stop.set()
        self.join(timeout=5)

    def run(self):
        conn = None
        try:
            while not self.stop.is_set():
                try:
                    conn, _ = self.srv.accept()
                    break
                except socket.timeout:
                    continue
        finally:
            self.srv.close()  # one connection only: nobody can connect after the guard
        if conn is None:
            return
        self.connected = True
        conn.settimeout(0.5)
        buf, total, expect = b"", 0, 1
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    if self.stop.is_set():
                        break
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_CHANNEL_BYTES:
                    self.problems.append("flooded the grader's channel")
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    expect = self._line(line, expect)
        if buf.strip():
            self.problems.append("an incomplete message on the grader's channel")

    def _line(self, line: bytes, expect: int) -> int:
        try:
            mac_hex, body_hex = line.decode("ascii").split(" ", 1)
            body = bytes.fromhex(body_hex)
        except (UnicodeDecodeError, ValueError):
            self.problems.append("a malformed message on the grader's channel")
            return expect
        good = hmac.new(self.key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, mac_hex):
            self.problems.append("a forged message on the grader's channel")
            return expect
        try:
            seq, kind, payload = ast.literal_eval(body.decode("utf-8"))
        except Exception:
            self.problems.append("an unreadable message on the grader's channel")
            return expect
        if seq != expect:
            self.problems.append(f"grader messages out of sequence ({seq} after {expect - 1})")
        self.messages.append((kind, payload))
        return seq + 1
