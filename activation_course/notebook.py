"""Which notebook file is this kernel running? otter's ``Notebook``, following it.

otter 7 takes the file name it is given on trust (``otter.Notebook("hw1.ipynb")``):
a student whose file is ``hw1 (1).ipynb`` gets ``FileNotFoundError``, and with the
original still in the folder ``grader.export()`` would zip the other, blank copy.
Without a name otter accepts only a folder that holds a single notebook.

:func:`locate` asks, in this order,

1. the Jupyter server this kernel belongs to (its sessions list the notebook each
   kernel runs, and follow a rename; asked as ``ipynbname`` asks, but with the token
   in a header, as a JupyterHub requires), and VS Code (``__vsc_ipynb_file__``, via
   ``ipynbname``);
2. ``__session__``, the notebook path JupyterLab gives the kernel when it starts
   (stale after a rename, so it is used only if that file still exists);
3. the folder: a single notebook in the working directory is the one.

When none of them can tell the copies apart it raises :class:`NotebookNotFound`
with what to do, rather than guess and export another file.

:class:`Notebook` is ``otter.Notebook`` with its notebook path looked up again
each time otter uses it (checks, export), so a rename while the kernel runs is
followed too. Its :meth:`~Notebook.export` also writes the written answers beside
the zip (:mod:`activation_course.written`). Under the autograder (otter's grading
mode) it is otter's own behaviour, unchanged. The assignments' first cell uses it when this package is
importable and otter's own class otherwise.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import otter

__all__ = ["Notebook", "NotebookNotFound", "locate"]


class NotebookNotFound(RuntimeError):
    """The kernel cannot tell which notebook file it runs."""


def _server_sessions_path(timeout: float = 0.5) -> Path | None:
    """The notebook this kernel runs, from the sessions of the Jupyter server that
    started it, or None.

    This is what ``ipynbname`` does, with one difference: the server's token goes in an
    ``Authorization`` header. ipynbname puts it in the URL (``?token=``), which a
    JupyterHub single-user server refuses (JupyterHub 5 and later answer 403), so on the
    course's hub the lookup would not follow a rename. On a hub the server's info file
    has no token of its own, and the kernel inherits ``JUPYTERHUB_API_TOKEN``.
    """
    import glob
    import json
    import urllib.request

    try:
        import ipykernel
        from jupyter_core.paths import jupyter_runtime_dir

        connection = Path(ipykernel.get_connection_file()).stem  # kernel-<id>
    except Exception:  # not in a kernel
        return None
    kernel_id = connection.split("-", 1)[-1]
    infos = sorted(glob.glob(os.path.join(jupyter_runtime_dir(), "jpserver-*.json"))
                   + glob.glob(os.path.join(jupyter_runtime_dir(), "nbserver-*.json")),
                   key=os.path.getmtime, reverse=True)
    for info_file in infos:
        try:
            info = json.loads(Path(info_file).read_text())
            token = info.get("token") or os.environ.get("JUPYTERHUB_API_TOKEN", "")
            request = urllib.request.Request(f"{info['url']}api/sessions",
                                             headers={"Authorization": f"token {token}"} if token else {})
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                sessions = json.load(reply)
        except Exception:  # a stale info file, a server that wants a password
            continue
        for session in sessions:
            if (session.get("kernel") or {}).get("id") == kernel_id and session.get("path"):
                root = info.get("root_dir") or info.get("notebook_dir") or ""
                return Path(root) / session["path"]
    return None


def _frontend_path() -> Path | None:
    """The notebook path as the front end knows it, or None."""
    found = _server_sessions_path()
    if found is not None:
        return found
    try:  # VS Code's variable, and whatever else ipynbname learns to ask
        import ipynbname

        return Path(ipynbname.path())
    except Exception:  # no server, password auth, not in a kernel: fall through
        pass
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    session = (shell.user_ns.get("__session__") if shell is not None else None) \
        or os.environ.get("JPY_SESSION_NAME")
    if session and Path(session).is_file():
        return Path(session)
    return None


def _as_given_to_otter(path: Path) -> str:
    """A path relative to the working directory: otter zips the notebook under the
    name it is given, and an absolute path would change the member's name."""
    try:
        if path.parent.resolve() == Path.cwd().resolve():
            return path.name
    except OSError:
        pass
    return os.path.relpath(path)


def _notebooks_here() -> list[str]:
    return sorted(p.name for p in Path.cwd().glob("*.ipynb") if p.is_file())


def locate(expected: str | None = None) -> str:
    """The file name of the notebook this kernel runs, relative to the working folder.

    ``expected`` is the name the assignment was handed out with; it is only named
    in messages: the file is found, not assumed. Raises :class:`NotebookNotFound`
    when the notebook cannot be told apart from others in the folder.

    Args:
        expected: the handed-out file name, for messages only.

    Returns:
        The notebook's path relative to the working folder, a string.
    """
    path = _frontend_path()
    if path is not None and path.suffix == ".ipynb" and path.is_file():
        return _as_given_to_otter(path)
    here = _notebooks_here()
    if len(here) == 1:
        return here[0]
    what = f"the assignment{f' ({expected})' if expected else ''}"
    if not here:
        raise NotebookNotFound(
            f"No notebook in {Path.cwd()}: open {what} from its own folder, "
            "restart the kernel and run the notebook from the top.")
    raise NotebookNotFound(
        f"This kernel cannot tell which notebook it runs: {Path.cwd()} holds "
        f"{len(here)} notebooks ({', '.join(here)}) and the Jupyter front end does "
        "not say which one is open. So that another file is not submitted in place "
        f"of yours, keep only your copy of {what} in this folder (move the others "
        "away), then restart the kernel and run the notebook from the top.")


class Notebook(otter.Notebook):
    """``otter.Notebook`` that finds its notebook file instead of trusting a name.

    ``Notebook("hw1.ipynb")`` works when the file is called ``hw1 (1).ipynb``, when
    another copy sits in the same folder, and after a rename in JupyterLab. Checks
    still run when the copies cannot be told apart (every copy of an assignment
    holds the same tests); :meth:`export` then refuses with
    :class:`NotebookNotFound` instead of zipping the wrong file.
    """

    def __init__(self, nb_path: str | None = None, *args, **kwargs):
        self._handed_out_as = nb_path
        self._warned = False
        super().__init__(nb_path, *args, **kwargs)

    @property
    def _notebook(self) -> str | None:
        if type(self)._grading_mode:  # the autograder names the file itself
            return self._handed_out_as
        try:
            return locate(self._handed_out_as)
        except NotebookNotFound as exc:
            if self._handed_out_as and Path(self._handed_out_as).is_file():
                if not self._warned:
                    self._warned = True
                    warnings.warn(f"{exc} Until then checks run, but export will refuse.",
                                  stacklevel=2)
                return self._handed_out_as
            raise

    @_notebook.setter
    def _notebook(self, value: str | None) -> None:
        # otter assigns the name it was given (or resolved) in __init__: keep it as a hint.
        if value is not None and self._handed_out_as is None:
            self._handed_out_as = value

    def export(self, nb_path: str | None = None, *args, **kwargs):
        """otter's export of this notebook, found by :func:`locate`, then the written answers.

        Args:
            nb_path: the notebook to export, or ``None`` to find this one.
            *args, **kwargs: passed on to otter's ``Notebook.export``.

        Returns:
            What otter's export returns.
        """
        if type(self)._grading_mode:
            return super().export(nb_path, *args, **kwargs)
        if nb_path is None:
            nb_path = locate(self._handed_out_as)  # raises rather than zip another file
            print(f"Exporting {nb_path}")
        before = set(Path(nb_path).parent.glob("*.zip"))
        result = super().export(nb_path, *args, **kwargs)
        new_zips = sorted(set(Path(nb_path).parent.glob("*.zip")) - before, key=lambda p: p.stat().st_mtime)
        _export_written(nb_path, new_zips[-1].name if new_zips else None)
        return result


def _export_written(nb_path: str, zip_name: str | None) -> None:
    """The written answers beside the zip (``<hw>-written.html``, and its PDF where a
    Chromium or Chrome can print it), and what to upload where. A notebook without
    written questions (hw1) gets nothing and no message. The zip is already written:
    a failure here says so and leaves it alone."""
    from . import written

    try:
        done = written.export_written(nb_path)
    except Exception as exc:  # noqa: BLE001 - the zip is fine; say what went wrong
        print(f"Your zip is written, but the written answers could not be exported "
              f"({type(exc).__name__}: {exc}). Ask your instructor, and submit the zip meanwhile.")
        return
    if done is not None:
        print(written.upload_message(done, zip_name))
