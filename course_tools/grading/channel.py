"""The guard's channel: one end of a socket pair that the kernel inherits (no address, so
nothing else can connect, in or out of the sandbox). The tool first sends the guard its
configuration (the HMAC key and the finish nonce among it: no file ever holds them), then
verifies every line the guard sends back: HMAC-SHA256 with that key and consecutive
sequence numbers. Anything else is recorded as a problem, which makes the row ``flagged``.

The guard reads its configuration in the first cell the kernel runs, before any student
code: a submission can only write to its copy of the descriptor, and cannot sign."""
from __future__ import annotations

import ast
import hashlib
import hmac
import json
import socket
import threading

MAX_CHANNEL_BYTES = 32 * 2**20
ENV_FD = "ACGRADE_CHANNEL_FD"


class Channel(threading.Thread):
    """Sends the guard its configuration and receives, verifies, its messages."""

    def __init__(self, key: bytes):
        super().__init__(daemon=True)
        self.key = key
        self.sock, self._kernel_end = socket.socketpair()
        self._kernel_end.set_inheritable(True)
        self.messages: list[tuple[str, object]] = []
        self.problems: list[str] = []
        self.stop = threading.Event()
        self._config = threading.Event()
        self._config_bytes = b""

    @property
    def kernel_fd(self) -> int:
        """The descriptor the kernel inherits (``pass_fds``), named to it by ``ENV_FD``."""
        return self._kernel_end.fileno()

    def spawned(self) -> None:
        """The kernel has its copy: close ours (EOF then means every copy in the sandbox is gone)."""
        self._kernel_end.close()

    def send_config(self, config: dict) -> None:
        """The guard's configuration: sent (by this thread) once it is known."""
        self._config_bytes = json.dumps(config).encode() + b"\n"
        self._config.set()

    def of_kind(self, kind: str) -> list:
        return [p for k, p in self.messages if k == kind]

    def close(self) -> None:
        self.stop.set()
        self._config.set()
        if self.ident is not None:
            self.join(timeout=5)
        if self.is_alive():
            return
        self.sock.close()
        try:
            self._kernel_end.close()
        except OSError:
            pass

    def run(self):
        self._config.wait()
        if self.stop.is_set() and not self._config_bytes:
            return
        self.sock.settimeout(0.5)
        try:
            view = memoryview(self._config_bytes)
            while view and not self.stop.is_set():
                try:
                    view = view[self.sock.send(view):]
                except socket.timeout:
                    continue
        except OSError:
            return
        buf, total, expect = b"", 0, 1
        while True:
            try:
                chunk = self.sock.recv(65536)
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
