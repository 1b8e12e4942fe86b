"""Execute one prepared submission (run by the tool in its own session, under limits).

``python -m course_tools.grading.runner WORKDIR`` reads ``WORKDIR/job.json``
(written by the tool, no secrets), adds otter's grading cells
(``otter.execute.preprocessor.GradingPreprocessor``: init, cwd, seeds), the
guard cell right before the first student cell and the finish cell at the end,
and executes the notebook with nbclient in a python3 kernel. It writes
``WORKDIR/runner.json`` with what it saw (errors by cell, a dead kernel, truncated
output). The grade itself travels from the guard to the tool over the socket
whose key reaches the guard through a file the guard deletes; nothing this
process writes can change a score.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

GUARD_CELL = """\
import course_tools.grading.guard as _acgrade_guard
_acgrade_guard.arm()
del _acgrade_guard
"""

FINISH_CELL = 'import sys as _acgrade_sys\n_acgrade_sys.audit("acgrade.finish", "{nonce}")\n'


def _no_new_session() -> None:
    """Make jupyter_client start the kernel in *our* process group.

    It starts kernels with ``start_new_session=True``, which would put the kernel
    out of reach of the tool's ``killpg``; the timeout must kill the kernel too.
    """
    import jupyter_client.launcher as launcher

    real_popen = launcher.Popen

    def popen(*args, **kwargs):
        kwargs.pop("start_new_session", None)
        proc = real_popen(*args, **kwargs)
        pid_file = os.environ.get("ACGRADE_KERNEL_PID_FILE")
        if pid_file:
            Path(pid_file).write_text(str(proc.pid))
        return proc

    launcher.Popen = popen

    # ...and then it signals the kernel with killpg(its pgid): ours now. Signal the
    # kernel process alone instead.
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner

    real_launch = LocalProvisioner.launch_kernel

    async def launch_kernel(self, cmd, **kwargs):
        info = await real_launch(self, cmd, **kwargs)
        self.pgid = None
        return info

    LocalProvisioner.launch_kernel = launch_kernel


def build_notebook(nb, job: dict):
    import nbformat
    from otter.execute.logging import start_server
    from otter.execute.preprocessor import GradingPreprocessor
    from traitlets.config import Config

    marker = "acgrade-first-student-cell"
    guard = nbformat.v4.new_code_cell(GUARD_CELL)
    guard.metadata["tags"] = [marker]
    nb.cells.insert(0, guard)

    (host, port), stop = start_server()
    c = Config()
    c.GradingPreprocessor.cwd = job["submission_dir"]
    c.GradingPreprocessor.test_dir = job["tests_dir"]
    c.GradingPreprocessor.tests_glob = []
    c.GradingPreprocessor.results_path = str(Path(job["workdir"]) / "otter-inline-results.pkl")
    c.GradingPreprocessor.seed = job.get("seed")
    c.GradingPreprocessor.seed_variable = job.get("seed_variable")
    c.GradingPreprocessor.logging_server_host = host
    c.GradingPreprocessor.logging_server_port = port
    c.GradingPreprocessor.force_python3_kernel = True
    gp = GradingPreprocessor(config=c)
    nb, _ = gp.preprocess(nb)
    # otter's export cell runs the tests in student-controlled objects and pickles
    # them; the guard grades instead, so it is replaced by the finish cell.
    nb.cells[-1] = nbformat.v4.new_code_cell(FINISH_CELL.format(nonce=job["nonce"]))
    # otter inserts its set-up cells (init, cwd, seeds) at the top, so the guard,
    # inserted first, sits right after them and right before the first student cell.
    idx = next(i for i, cell in enumerate(nb.cells) if marker in cell.metadata.get("tags", []))
    first_student = idx + 1
    return nb, stop, first_student


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    workdir = Path(argv[0])
    job = json.loads((workdir / "job.json").read_text())
    report: dict = {"cell_errors": [], "dead_kernel": False, "output_truncated": 0,
                    "runner_error": None, "finished": False}
    report_path = workdir / "runner.json"

    def save():
        tmp = report_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(report))
        os.replace(tmp, report_path)

    save()
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import DeadKernelError

        _no_new_session()
        nb = nbformat.read(job["notebook"], as_version=4)
        n_student = len(nb.cells)
        nb, stop_logs, first_student = build_notebook(nb, job)
        cap = int(job["max_output_bytes"])
        seen = {"bytes": 0}

        class CappedClient(NotebookClient):
            """Keeps at most ``cap`` bytes of cell output in memory (a flood is dropped)."""

            def output(self, outs, msg, display_id, cell_index):
                if msg.get("msg_type") == "error":  # tracebacks are kept: they explain rows
                    return super().output(outs, msg, display_id, cell_index)
                content = msg.get("content", {})
                size = len(str(content.get("text", ""))) + len(str(content.get("data", "")))
                seen["bytes"] += size
                if seen["bytes"] > cap:
                    report["output_truncated"] += size
                    return None
                return super().output(outs, msg, display_id, cell_index)

        env_path = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
        os.environ["PATH"] = env_path
        os.environ["ACGRADE_GUARD_CONFIG"] = job["guard_config"]
        os.environ.setdefault("MPLBACKEND", "Agg")
        os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        client = CappedClient(nb, timeout=None, kernel_name="python3", allow_errors=True,
                              resources={"metadata": {"path": job["submission_dir"]}})
        try:
            client.execute()
            report["finished"] = True
        except DeadKernelError:
            report["dead_kernel"] = True
        finally:
            stop_logs()
        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    report["cell_errors"].append({
                        "cell": i - first_student,
                        "ename": str(out.get("ename", ""))[:100],
                        "evalue": str(out.get("evalue", ""))[:300],
                    })
        if report["dead_kernel"]:
            # the cell that was running when the kernel died: the first without outputs
            # after the last one that produced any; a hint for the message only.
            executed = [i for i, c in enumerate(nb.cells) if c.get("execution_count")]
            report["dead_cell"] = (max(executed) + 1 - first_student) if executed else 0
        report["n_student_cells"] = n_student
    except Exception:
        report["runner_error"] = traceback.format_exc()[-3000:]
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
