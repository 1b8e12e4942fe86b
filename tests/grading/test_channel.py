"""The guard's channel (``channel``): signed, ordered, one connection."""
from __future__ import annotations

import hashlib
import hmac
import socket
import time

import pytest

from course_tools.grading.channel import Channel


def _channel_with(lines_for):
    key = b"k" * 32
    ch = Channel(key)
    ch.start()
    s = socket.create_connection(("127.0.0.1", ch.port))
    for line in lines_for(key):
        s.sendall(line)
    s.close()
    ch.join(timeout=5)
    return ch


def _msg(key, seq, kind, payload, forge=False):
    body = repr((seq, kind, payload)).encode()
    mac = hmac.new(b"x" * 32 if forge else key, body, hashlib.sha256).hexdigest()
    return (mac + " " + body.hex() + "\n").encode()


def test_channel_accepts_signed_messages_in_order():
    ch = _channel_with(lambda k: [_msg(k, 1, "armed", {}), _msg(k, 2, "final", {"questions": []})])
    assert [m[0] for m in ch.messages] == ["armed", "final"] and not ch.problems


def test_channel_reports_forged_reordered_and_malformed_messages():
    ch = _channel_with(lambda k: [_msg(k, 1, "armed", {}), _msg(k, 2, "final", {}, forge=True),
                                  _msg(k, 3, "final", {}), b"garbage\n"])
    assert "a forged message on the grader's channel" in ch.problems
    assert any("out of sequence" in p for p in ch.problems)
    assert "a malformed message on the grader's channel" in ch.problems


def test_channel_takes_one_connection_only():
    ch = Channel(b"k" * 32)
    ch.start()
    first = socket.create_connection(("127.0.0.1", ch.port))
    time.sleep(1.0)
    with pytest.raises(OSError):
        second = socket.create_connection(("127.0.0.1", ch.port), timeout=2)
        second.sendall(b"x\n")
        second.recv(1)  # refused or reset: the listener is gone
        raise OSError("second connection was served")
    first.close()
    ch.join(timeout=5)
