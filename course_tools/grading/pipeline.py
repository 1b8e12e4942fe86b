"""One submission through the pipeline (intake -> sandbox -> channel -> verdict), and a
batch of them, ``jobs`` at a time, with everything killed on Ctrl-C."""
from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from . import bwrap, guard, policy, sandbox
from .assignment import Analysis, AutograderZip
from .channel import Channel
from .environment import GradingEnv, kernel_env
from .execute import build_notebook, run_notebook
from .intake import Invalid, Prepared, Raw, Submission, prepare, read
from .kernel_config import KernelConfig
from .record import Result
from ..settings import Limits
from .sandbox import Sandbox, SpawnSpec, start_kernel
from .verdict import Observation, decide

GUARD_SOURCE = Path(guard.__file__)
log = logging.getLogger(__name__)


def layout(work: Path, sub: Submission, prep: Prepared, a: AutograderZip) -> tuple[Path, Path, list[str]]:
    """The Gradescope layout: the notebook and the student's files, then the zip's files/
    (its copies win) and tests/. Returns (submission folder, notebook, support files)."""
    subdir = work / "submission"
    subdir.mkdir(exist_ok=True)
    for name, data in prep.extra_files.items():
        dest = subdir / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    files = a.files_dir
    if files.is_dir():
        shutil.copytree(files, subdir, dirs_exist_ok=True)
    support_files = [str(p) for p in subdir.rglob("*.py")
                     if files.is_dir() and (files / p.relative_to(subdir)).is_file()]
    tests_dir = subdir / "tests"
    if tests_dir.exists():
        shutil.rmtree(tests_dir)
    shutil.copytree(a.tests_dir, tests_dir)
    nb_path = subdir / prep.filename
    nb_path.write_text(json.dumps(prep.notebook))
    return subdir, nb_path, support_files


def _code_of(nb: dict) -> str:
    """The submission's code cells, joined (what ``policy.warmups_for`` looks at)."""
    return "\n".join("".join(c.get("source", "")) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                     for c in nb.get("cells", []) if c.get("cell_type") == "code")


def _readable(root: Path) -> None:
    """As root the sandboxed kernel runs as another uid: it must read what it is given
    (the work folder itself stays private to the tool: mkdtemp makes it 0700)."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | 0o444)


def grade_one(sub: Submission, raw: Raw, analysis: Analysis, env: GradingEnv, limits: Limits,
              keep_work: bool = False, isolate: bool = True) -> Result:
    """The kernel is spawned first (it starts while the rest is prepared here), then the
    submission is checked in full, laid out, and the graded notebook executed; the
    ``Assignment`` is taken from ``analysis`` once the kernel answers. With ``isolate``
    (the default) the kernel runs in its bubblewrap sandbox (``bwrap``)."""
    z = analysis.zip
    work = Path(tempfile.mkdtemp(prefix="acgrade-"))
    t0 = time.monotonic()
    channel = None
    try:
        subdir, grader_dir = work / "submission", work / "grader"
        subdir.mkdir()
        grader_dir.mkdir()
        shutil.copyfile(GUARD_SOURCE, grader_dir / "acgrade_guard.py")
        key, nonce = secrets.token_bytes(32), secrets.token_hex(16)
        channel = Channel(key)
        uid = bwrap.sandbox_uid() if isolate and bwrap.privileged() else None
        # the paths as the kernel sees them
        k_sub = bwrap.SUBMISSION if isolate else subdir
        k_grader = bwrap.GRADER if isolate else grader_dir
        spec = SpawnSpec(python=env.python, cwd=subdir, limits=limits, grader_dir=grader_dir,
                         log=work / "kernel.log", isolate=isolate, env_root=env.root, uid=uid,
                         env=kernel_env(bin_dir=env.bin_dir, home=k_sub, threads=limits.threads,
                                        VIRTUAL_ENV=str(env.root), ACGRADE_CHANNEL_FD=str(channel.kernel_fd)))
        with Sandbox(spec) as sb:
            try:
                km = start_kernel(spec, sb, pass_fds=(channel.kernel_fd,))
            finally:
                channel.spawned()
            channel.start()
            try:
                prep = prepare(sub, z, has_module=env.has_module, raw=raw)
            except Invalid as e:
                return Result.invalid(sub.id, analysis.result().total_max, str(e))
            _, _, support_files = layout(work, sub, prep, z)
            if uid is not None:
                _readable(subdir)

            def inside(p) -> str:
                return str(k_sub / Path(p).relative_to(subdir))

            def prepare_cells(nb):
                """Once the kernel answers: the guard's configuration and the graded notebook."""
                a = analysis.result()
                channel.send_config(KernelConfig(
                    key=key.hex(), nonce=nonce, tests_dir=str(k_sub / "tests"),
                    tests=[inside(p) for p in sorted((subdir / "tests").glob("*.py"))],
                    submission_dir=str(k_sub), watch=a.watch, support=a.support,
                    support_files=[inside(p) for p in support_files], library_dirs=[str(k_grader)],
                    bases=a.bases, policy=policy.guard_policy(),
                    warmups=policy.warmups_for(_code_of(prep.notebook))).to_json())
                return build_notebook(nb, guard_path=k_grader / "acgrade_guard.py", submission_dir=k_sub,
                                      tests_dir=k_sub / "tests", nonce=nonce, seed=a.seed,
                                      seed_variable=a.seed_variable, stage_from=bwrap.SOURCE if isolate else None)

            run = run_notebook(prep.notebook, sb, km, prepare_cells)
        channel.close()
        a = analysis.result()
        log_tail = spec.log.read_bytes()[-3000:].decode("utf-8", "replace") if spec.log.exists() else ""
        obs = Observation(submission=sub.id, notes=prep.notes, shadowing=prep.shadowing,
                          messages=channel.messages, channel_problems=channel.problems, run=run,
                          timed_out=sb.timed_out, log_tail=log_tail, seconds=time.monotonic() - t0,
                          kernel_pid=sb.pid, procs_capped=sb.procs_capped, procs_peak=sb.procs_peak,
                          procs_started=sb.procs_started,
                          sandboxed=isolate)
        return decide(obs, a, limits)
    finally:
        if channel is not None:
            channel.close()
        if keep_work:
            log.info("[kept] %s: %s", sub.id, work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def grade_submission(sub: Submission, analysis: Analysis, env: GradingEnv, limits: Limits,
                     keep_work: bool = False, isolate: bool = True) -> Result:
    """Quick checks, then one sandboxed run; whatever happens, a row."""
    try:
        raw = read(sub, analysis.zip)
    except Invalid as e:
        return Result.invalid(sub.id, analysis.result().total_max, str(e))
    try:
        return grade_one(sub, raw, analysis, env, limits, keep_work=keep_work, isolate=isolate)
    except Exception as e:  # the tool's own failure on this one: still a row
        log.exception("grading tool error on %s", sub.id)
        return Result.tool_error(sub.id, analysis.result().total_max,
                                 f"grading tool error: {type(e).__name__}: {e}")


def grade_all(todo: list, analysis: Analysis, env: GradingEnv, limits: Limits, jobs: int, on_done,
              keep_work: bool = False, on_start=None, isolate: bool = True) -> bool:
    """Grade ``todo`` (pairs of submission and file hash), calling ``on_start()`` once the
    kernels are on their way and ``on_done(result, sub, digest)`` as each finishes.
    Returns False when interrupted (Ctrl-C): every kernel is killed (its process group and
    its descendants) and what was graded is kept."""
    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = {}
    interrupted = False
    try:
        futures = {pool.submit(grade_submission, s, analysis, env, limits, keep_work, isolate): (s, d) for s, d in todo}
        if on_start is not None:
            on_start()
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for f in finished:
                s, d = futures[f]
                on_done(f.result(), s, d)
    except KeyboardInterrupt:
        interrupted = True
        for f in futures:
            f.cancel()
        sandbox.kill_all()
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
        if interrupted:
            sandbox.kill_all()
    return not interrupted
