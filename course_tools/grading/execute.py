"""Execute one prepared notebook the way otter does on Gradescope, in a sandboxed kernel.

The notebook gets otter's own grading cells (``GradingPreprocessor``: init, the
submission folder on ``sys.path``, seeds, checks for metadata tests) exactly as
``otter.execute.grade_notebook`` adds them, plus the guard cell right before the first
student cell; otter's export cell (run the tests not yet run, pickle the results from
inside the kernel) is replaced by the finish cell, which asks the guard to do the same
and send the results over the signed channel. nbclient runs it in this process, one
thread per submission; the kernel is the grading environment's interpreter, in its sandbox.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .sandbox import KERNEL_NAME, Sandbox

# In the sandbox, the work folder is a tmpfs: the prepared submission is copied in from its
# read-only source (laid out once the kernel was already starting) before otter's cells run.
STAGE_CELL = """\
def _acgrade_stage(src, dest):
    import os, shutil
    for root, dirs, files in os.walk(src):
        here = os.path.join(dest, os.path.relpath(root, src))
        os.makedirs(here, exist_ok=True)
        for name in files:
            shutil.copyfile(os.path.join(root, name), os.path.join(here, name), follow_symlinks=False)
_acgrade_stage({source!r}, {dest!r})
del _acgrade_stage
"""

GUARD_CELL = """\
def _acgrade_arm():
    import runpy
    runpy.run_path({path!r}, run_name="_acgrade_guard")["arm"]()
_acgrade_arm()
del _acgrade_arm
"""

FINISH_CELL = 'import sys as _acgrade_sys\n_acgrade_sys.audit("acgrade.finish", "{nonce}")\n'
MARKER = "acgrade-first-student-cell"


@dataclass
class RunReport:
    """What executing the notebook showed (the grade itself comes over the channel)."""
    finished: bool = False
    dead_kernel: bool = False
    dead_cell: int | None = None
    cell_errors: list[dict] = field(default_factory=list)
    output_truncated: int = 0
    runner_error: str | None = None
    n_student_cells: int = 0

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("finished", "dead_kernel", "dead_cell", "cell_errors",
                                               "output_truncated", "runner_error")}


def build_notebook(nb, *, guard_path: Path, submission_dir: Path, tests_dir: Path, nonce: str,
                   seed=None, seed_variable=None, stage_from: Path | None = None):
    """otter's grading cells + the guard cell + the finish cell (and, with ``stage_from``,
    the cell that copies the submission in); paths are as the kernel sees them. Returns
    (notebook, stop_logging_server, index of the first student cell)."""
    import nbformat
    from otter.execute.preprocessor import GradingPreprocessor
    from traitlets.config import Config

    guard = nbformat.v4.new_code_cell(GUARD_CELL.format(path=str(guard_path)))
    guard.metadata["tags"] = [MARKER]
    nb.cells.insert(0, guard)
    if stage_from is None:
        from otter.execute.logging import start_server
        (host, port), stop = start_server()
    else:  # no network in the sandbox: otter's debug log has nowhere to go (as with no listener)
        (host, port), stop = ("127.0.0.1", 9), (lambda: None)
    c = Config()
    c.GradingPreprocessor.cwd = str(submission_dir)
    c.GradingPreprocessor.test_dir = str(tests_dir)
    c.GradingPreprocessor.tests_glob = []
    c.GradingPreprocessor.results_path = str(submission_dir.parent / "otter-inline-results.pkl")
    c.GradingPreprocessor.seed = seed
    c.GradingPreprocessor.seed_variable = seed_variable
    c.GradingPreprocessor.logging_server_host = host
    c.GradingPreprocessor.logging_server_port = port
    c.GradingPreprocessor.force_python3_kernel = True
    try:
        nb, _ = GradingPreprocessor(config=c).preprocess(nb)
    except BaseException:
        stop()
        raise
    nb.cells[-1] = nbformat.v4.new_code_cell(FINISH_CELL.format(nonce=nonce))
    if stage_from is not None:
        nb.cells.insert(0, nbformat.v4.new_code_cell(STAGE_CELL.format(source=str(stage_from),
                                                                       dest=str(submission_dir))))
    # otter inserts its set-up cells at the top, so the guard, inserted first, sits
    # right after them and right before the first student cell.
    idx = next(i for i, cell in enumerate(nb.cells) if MARKER in cell.metadata.get("tags", []))
    return nb, stop, idx + 1


def run_notebook(nb_dict: dict, sandbox: Sandbox, km, prepare) -> RunReport:
    """Execute ``prepare(nb)``'s notebook in the sandbox's running kernel (``km``).

    ``prepare(nb)`` runs once the kernel answers and returns ``(notebook, stop,
    first_student_cell)`` as ``build_notebook`` does; the kernel meanwhile imports what
    otter's init cell and the guard import first anyway (``SpawnSpec.preload``)."""
    import nbformat
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    spec = sandbox.spec
    report = RunReport()
    nb = nbformat.reads(json.dumps(nb_dict), as_version=4)
    report.n_student_cells = len(nb.cells)
    cap = spec.limits.max_output_mb * 2**20 // 2
    seen = {"bytes": 0}
    built: dict = {}

    class SandboxedClient(NotebookClient):
        """Builds the graded notebook once the kernel answers, and keeps at most ``cap``
        bytes of output (a flood is dropped)."""

        async def async_start_new_kernel_client(self):
            kc = await super().async_start_new_kernel_client()
            self.nb, built["stop"], built["first"] = prepare(self.nb)
            return kc

        def output(self, outs, msg, display_id, cell_index):
            if msg.get("msg_type") == "error":  # tracebacks are kept: they explain rows
                return super().output(outs, msg, display_id, cell_index)
            content = msg.get("content", {})
            size = len(str(content.get("text", ""))) + len(str(content.get("data", "")))
            seen["bytes"] += size
            if seen["bytes"] > cap:
                report.output_truncated += size
                return None
            return super().output(outs, msg, display_id, cell_index)

    client = SandboxedClient(nb, km=km, timeout=None, kernel_name=KERNEL_NAME, allow_errors=True,
                             shutdown_kernel="immediate", startup_timeout=120,
                             resources={"metadata": {"path": str(spec.kernel_cwd)}})
    try:
        client.execute()
        report.finished = True
    except DeadKernelError:
        report.dead_kernel = True
    except Exception as e:  # a kernel that never started, a broken message...
        if sandbox.killed and "stop" in built:
            report.dead_kernel = True
        else:
            report.runner_error = f"{type(e).__name__}: {e}"
    finally:
        if "stop" in built:
            built["stop"]()
        sandbox.kill()
        try:
            if client.kc is not None:
                client.kc.stop_channels()
            run_sync(km.cleanup_resources)()
        except Exception:
            pass
    first_student = built.get("first", 0)
    for i, cell in enumerate(client.nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                report.cell_errors.append({"cell": i - first_student,
                                           "ename": str(out.get("ename", ""))[:100],
                                           "evalue": str(out.get("evalue", ""))[:300]})
    if report.dead_kernel:
        # the cell that was running when the kernel died: the first without outputs after
        # the last one that produced any; a hint for the message only.
        executed = [i for i, c in enumerate(client.nb.cells) if c.get("execution_count")]
        report.dead_cell = (max(executed) + 1 - first_student) if executed else 0
    return report
