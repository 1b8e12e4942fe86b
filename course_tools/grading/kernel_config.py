"""The guard's configuration: what the grading tool tells the guard in the kernel, as the
first line (JSON) on their channel (``channel.Channel.send_config``), before any student code.

The tool builds a ``KernelConfig`` (``pipeline``); the guard, which runs in the grading
environment where the course's packages are not installed (``runpy.run_path``, never in
``sys.modules``), reads that line as a plain dict whose keys are this dataclass's fields:
``guard.read_config`` checks that every field is there. Paths are as the kernel sees them
(inside the sandbox). The key and nonce exist nowhere else in the sandbox: no file, no
environment variable; in the kernel they live only in the guard's closures.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class KernelConfig:
    """One kernel's configuration (all of it JSON-ready: strings, lists, dicts).

    Attributes:
        key: the channel's HMAC-SHA256 key, hex; the guard signs every message with it.
        nonce: the finish cell's secret: an ``acgrade.finish`` audit event without it is a finding.
        tests_dir: the autograder's tests folder (a write into it is a finding).
        tests: the test files (``tests_dir/*.py``), parsed by the guard before student code.
        submission_dir: the submission's folder (never on ``sys.path`` while the watched
            modules are imported: a shipped ``numpy.py`` must not shadow numpy).
        watch: modules snapshotted: ``policy.BASE_WATCH`` plus what the tests import.
        support: the autograder's own helper modules (its ``files/``), imported and watched.
        support_files: those helpers' files, counted as library code.
        library_dirs: folders counted as library code (the guard's own folder).
        bases: question -> the names its tests find in the namespace (``np``, ``torch``...).
        policy: ``policy.guard_policy()``: everything the guard watches.
        warmups: ``policy.warmups_for``: ``[root, code]`` run before the snapshot.
    """
    key: str
    nonce: str
    tests_dir: str
    tests: list[str]
    submission_dir: str
    watch: list[str]
    support: list[str] = field(default_factory=list)
    support_files: list[str] = field(default_factory=list)
    library_dirs: list[str] = field(default_factory=list)
    bases: dict[str, list[str]] = field(default_factory=dict)
    policy: dict = field(default_factory=dict)
    warmups: list[list[str]] = field(default_factory=list)

    def to_json(self) -> dict:
        """The dict the channel sends (``json.dumps``-able)."""
        return asdict(self)


FIELDS = tuple(f.name for f in fields(KernelConfig))
