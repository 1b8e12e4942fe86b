"""activation_course.notebook: the assignments' grader finds its own notebook file.

In-process unit tests of the lookup order; the whole story (a clean venv, a renamed
notebook beside a blank one, JupyterLab in a browser) is in tests/release/.
"""
from __future__ import annotations

import json
from pathlib import Path
import sys
import types

import otter
import pytest

from activation_course import notebook
from activation_course.notebook import Notebook, NotebookNotFound, locate


def write_nb(path, tests=None):
    nb = {"cells": [], "metadata": {"otter": {"OK_FORMAT": True, "tests": tests or {}}}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    # no Jupyter server can be asked: ipynbname fails as it does outside a kernel
    fake = types.SimpleNamespace(path=lambda: (_ for _ in ()).throw(FileNotFoundError("no server")))
    monkeypatch.setitem(sys.modules, "ipynbname", fake)
    return tmp_path


def test_single_notebook_in_the_folder_is_the_one(folder):
    write_nb(folder / "hw1 (1).ipynb")
    assert locate("hw1.ipynb") == "hw1 (1).ipynb"


def test_two_copies_and_no_front_end_is_an_error_that_says_what_to_do(folder):
    write_nb(folder / "hw1.ipynb")
    write_nb(folder / "hw1 (1).ipynb")
    with pytest.raises(NotebookNotFound, match=r"cannot tell which notebook.*hw1 \(1\)\.ipynb, hw1\.ipynb.*restart"):
        locate("hw1.ipynb")


def test_no_notebook_at_all(folder):
    with pytest.raises(NotebookNotFound, match="No notebook"):
        locate("hw1.ipynb")


def test_jupyterlab_session_name_picks_the_open_copy(folder, monkeypatch):
    write_nb(folder / "hw1.ipynb")
    write_nb(folder / "hw1 (1).ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(folder / "hw1 (1).ipynb"))
    assert locate("hw1.ipynb") == "hw1 (1).ipynb"  # a base name: otter zips it under that name


def test_stale_session_name_after_a_rename_falls_back_to_the_folder(folder, monkeypatch):
    write_nb(folder / "mine.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(folder / "hw1.ipynb"))  # renamed since the kernel started
    assert locate("hw1.ipynb") == "mine.ipynb"


def test_the_server_answer_wins_over_a_stale_session(folder, monkeypatch):
    write_nb(folder / "hw1.ipynb")
    write_nb(folder / "renamed.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(folder / "hw1.ipynb"))
    monkeypatch.setitem(sys.modules, "ipynbname", types.SimpleNamespace(path=lambda: folder / "renamed.ipynb"))
    assert locate("hw1.ipynb") == "renamed.ipynb"


def test_a_notebook_in_another_folder_is_given_relative(folder, monkeypatch):
    (folder / "sub").mkdir()
    write_nb(folder / "sub" / "hw1.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(folder / "sub" / "hw1.ipynb"))
    assert locate() == "sub/hw1.ipynb"


def test_grader_follows_the_file_and_export_refuses_when_ambiguous(folder, monkeypatch):
    write_nb(folder / "hw1 (1).ipynb")
    grader = Notebook("hw1.ipynb")  # the handed-out name does not exist here
    assert grader._notebook == "hw1 (1).ipynb"
    (folder / "hw1 (1).ipynb").rename(folder / "renamed.ipynb")  # a rename while the kernel runs
    assert grader._notebook == "renamed.ipynb"
    write_nb(folder / "hw1.ipynb")  # a second copy appears: checks still find tests, export refuses
    with pytest.warns(UserWarning, match="export will refuse"):
        assert grader._notebook == "hw1.ipynb"
    with pytest.raises(NotebookNotFound):
        grader.export(pdf=False)
    assert not list(folder.glob("*.zip"))


def test_grading_mode_is_otters_own_behaviour(folder, monkeypatch):
    write_nb(folder / "submission.ipynb")
    monkeypatch.setattr(otter.Notebook, "_grading_mode", True)
    grader = Notebook.__new__(Notebook)
    grader._handed_out_as, grader._warned = "hw1.ipynb", False
    assert grader._notebook == "hw1.ipynb"  # the autograder names the file; nothing is looked up
    assert notebook.Notebook.export is not otter.Notebook.export


def test_server_sessions_are_asked_with_the_token_in_a_header(tmp_path, monkeypatch):
    """A JupyterHub single-user server refuses ``?token=`` in the URL (as ipynbname sends
    it); the locator sends the token as a header and finds the kernel's notebook."""
    import http.server
    import threading

    seen = []

    class Server(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            if "token=" in self.path or self.headers.get("Authorization") != "token hub-secret":
                self.send_response(403)
                self.end_headers()
                return
            body = json.dumps([{"path": "other.ipynb", "kernel": {"id": "k-other"}},
                               {"path": "course/hw1 (1).ipynb", "kernel": {"id": "k-mine"}}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Server)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        runtime = tmp_path / "runtime"
        runtime.mkdir()
        (runtime / "jpserver-1.json").write_text(json.dumps(
            {"url": f"http://127.0.0.1:{httpd.server_address[1]}/user/ada/", "token": "",
             "root_dir": "/home/ada"}))
        monkeypatch.setattr("jupyter_core.paths.jupyter_runtime_dir", lambda: str(runtime))
        monkeypatch.setattr("ipykernel.get_connection_file", lambda: "/run/kernel-k-mine.json")
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-secret")
        assert notebook._server_sessions_path() == Path("/home/ada/course/hw1 (1).ipynb")
        assert seen and all("token=" not in path for path, _ in seen)
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "wrong")
        assert notebook._server_sessions_path() is None  # refused: fall through, no error
    finally:
        httpd.shutdown()
        httpd.server_close()
