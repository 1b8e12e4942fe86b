"""The guard's channel (``channel``): the configuration goes first, then signed, ordered
messages come back over a socket pair that has no address anyone else could reach."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket

from course_tools.grading.channel import Channel


def _kernel_end(ch: Channel) -> socket.socket:
    """The kernel's copy of the descriptor (as pass_fds would give it), the tool's closed."""
    s = socket.socket(fileno=os.dup(ch.kernel_fd))
    ch.spawned()
    return s


def _read_line(s: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        assert chunk, "channel closed before the configuration"
        buf += chunk
    return buf


def _channel_with(lines_for, config=None):
    key = b"k" * 32
    ch = Channel(key)
    ch.send_config(config or {"key": key.hex()})
    ch.start()
    s = _kernel_end(ch)
    got = json.loads(_read_line(s))
    for line in lines_for(key):
        s.sendall(line)
    s.close()
    ch.join(timeout=5)
    return ch, got


def _msg(key, seq, kind, payload, forge=False):
    body = repr((seq, kind, payload)).encode()
    mac = hmac.new(b"x" * 32 if forge else key, body, hashlib.sha256).hexdigest()
    return (mac + " " + body.hex() + "\n").encode()


def test_channel_accepts_signed_messages_in_order():
    ch, _ = _channel_with(lambda k: [_msg(k, 1, "armed", {}), _msg(k, 2, "final", {"questions": []})])
    assert [m[0] for m in ch.messages] == ["armed", "final"] and not ch.problems


def test_channel_reports_forged_reordered_and_malformed_messages():
    ch, _ = _channel_with(lambda k: [_msg(k, 1, "armed", {}), _msg(k, 2, "final", {}, forge=True),
                                     _msg(k, 3, "final", {}), b"garbage\n"])
    assert "a forged message on the grader's channel" in ch.problems
    assert any("out of sequence" in p for p in ch.problems)
    assert "a malformed message on the grader's channel" in ch.problems


def test_the_configuration_arrives_whole_even_when_larger_than_a_socket_buffer():
    big = {"key": "ab" * 32, "tests": ["t" * 100] * 20000}  # ~2 MB: sent by the channel's thread
    ch, got = _channel_with(lambda k: [], config=big)
    assert got == big and not ch.problems


def test_the_channel_has_no_address():
    ch = Channel(b"k" * 32)
    assert ch.sock.family == socket.AF_UNIX and ch.sock.getsockname() in ("", b"")
    assert os.get_inheritable(ch.kernel_fd) and not os.get_inheritable(ch.sock.fileno())
    ch.close()
