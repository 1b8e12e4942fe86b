"""A student's journey through hw1 in a real JupyterLab, in a real browser (issue 11, "Tests").

JupyterLab runs from the student venv (``student_venv``: the edition's
``requirements.txt`` in a fresh venv) on a loopback port with a random token, in a
copy of the edition's ``assignments/hw1/`` that holds both ``hw1.ipynb`` and
``hw1 (1).ipynb`` (a second browser download). Debian's Chromium, driven by
Playwright (nothing is downloaded), opens ``hw1 (1).ipynb`` and does what a student
does: types a derivation into a "*Your derivation:*" cell and renders it, replaces
the ``numerical_grad`` stub, runs the notebook from the top down to its check cell
and sees it pass, saves, and runs the export cell. The zip the export writes must
hold ``hw1 (1).ipynb`` with the typed text and code, not the blank ``hw1.ipynb``.

Every step is screenshot into ``_build/jupyterlab-screenshots/`` (a failed step as
``failed-<step>.png``); a failure names the step and gives the server's log tail
and the browser's console errors. The server and its kernels are always stopped.
The journey's wall time goes to ``TIMINGS["jupyterlab journey"]``.

Nothing here touches the network or the user's home: the server gets temporary
Jupyter config/data/runtime folders and HOME (the kernel spec comes from the
venv's ipykernel), JupyterLab's news feed and update check are off, and the
browser aborts every request that is not for the server.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from course_tools.grading.sandbox import descendants
from edition_support import REPO, TIMINGS, clean_env

# The journey takes about 20 s here; the timeout also covers building ``student_venv``
# (a clean venv with torch, several minutes) when this is the first test that needs it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = REPO / "_build" / "jupyterlab-screenshots"
NOTEBOOK = "hw1 (1).ipynb"
CHECK = "q1_numerical_grad"
DERIVATION_PROMPT = "*Your derivation:*"
# What the student writes. The derivation has no brackets (the editor may close them).
MARKER = f"journey-{secrets.token_hex(4)}"
DERIVATION = (f"*Your derivation:* {MARKER} the centred difference cancels the h^2 term "
              "of the Taylor series, so its error is of order h^2; the one-sided one is of order h.")
SOLUTION_LINES = ["def numerical_grad(f, z, h=1e-5):",
                  "    z = np.asarray(z, dtype=np.float64)",
                  "    return (f(z + h) - f(z - h)) / (2 * h)"]
SOLUTION = "\n".join(SOLUTION_LINES)
LOCAL_SCHEMES = ("data:", "blob:", "about:")


# --------------------------------------------------------------------------------------
# The Jupyter server: started in its own process group, always stopped with its kernels.
# --------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class JupyterServer:
    def __init__(self, bin_dir: Path, root: Path, home: Path):
        self.root = root
        self.port = _free_port()
        self.token = secrets.token_hex(24)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "jupyter-server.log"
        for sub in ("config", "data", "runtime", "ipython"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        env = clean_env(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "config"),
                        JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                        IPYTHONDIR=str(home / "ipython"), JUPYTER_PLATFORM_DIRS="0")
        # A student who answered "No" to JupyterLab's "official Jupyter news?" toast:
        # no request leaves the machine, and no toast covers the notebook.
        settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        for key in [k for k in env if k.startswith("XDG_")]:
            del env[key]
        self.cmd = [str(bin_dir / "python"), "-m", "jupyterlab", "--no-browser",
                    "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
                    "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                    f"--ServerApp.root_dir={root}",
                    "--LabApp.news_url=None",
                    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if os.geteuid() == 0:  # CI containers run as root; a student does not
            self.cmd.append("--allow-root")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, cwd=root, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, chars: int = 6000) -> str:
        self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(no server log: {exc})"

    def api(self, method: str, path: str, timeout: float = 10):
        req = urllib.request.Request(f"{self.base}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}")
            try:
                self.api("GET", "/api/status", timeout=5)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise TimeoutError(f"jupyter lab did not answer on {self.base} within {timeout:.0f} s")

    def stop(self) -> list[int]:
        """Shut the server down (its kernels with it), then kill whatever is left.
        Returns the processes still alive after that (none, unless a kill failed)."""
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                for session in self.api("GET", "/api/sessions") or []:
                    self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
            with contextlib.suppress(Exception):
                self.api("POST", "/api/shutdown")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in pids:  # kernels run in their own sessions: kill them one by one
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._log.close()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        return [pid for pid in pids if _alive(pid)]


# --------------------------------------------------------------------------------------
# The journey
# --------------------------------------------------------------------------------------

def _cell_index(nb: dict, predicate) -> int:
    for i, cell in enumerate(nb["cells"]):
        if predicate(cell, "".join(cell["source"])):
            return i
    raise AssertionError("cell not found")


def _student_folder(release_dir: Path, dest: Path) -> tuple[Path, dict]:
    src = release_dir / "assignments" / "hw1"
    assert (src / "hw1.ipynb").is_file(), f"the edition has no {src / 'hw1.ipynb'}"
    shutil.copytree(src, dest)
    shutil.copy2(dest / "hw1.ipynb", dest / NOTEBOOK)
    return dest, json.loads((dest / NOTEBOOK).read_text())


def test_student_journey_in_jupyterlab(release_dir, student_venv, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM} (set CHROMIUM=...); nothing is downloaded",
                    pytrace=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()

    folder, nb = _student_folder(release_dir, tmp_path / "hw1")
    blank = (folder / "hw1.ipynb").read_bytes()
    i_derivation = _cell_index(nb, lambda c, s: c["cell_type"] == "markdown"
                               and s.startswith(DERIVATION_PROMPT))
    i_stub = _cell_index(nb, lambda c, s: c["cell_type"] == "code" and s.startswith("def numerical_grad("))
    i_check = _cell_index(nb, lambda c, s: c["cell_type"] == "code" and f'grader.check("{CHECK}")' in s)
    i_export = _cell_index(nb, lambda c, s: c["cell_type"] == "code" and "grader.export(" in s)
    assert i_derivation < i_stub < i_check < i_export, (i_derivation, i_stub, i_check, i_export)

    start = time.monotonic()
    server = JupyterServer(student_venv, folder, tmp_path / "home")
    console: list[str] = []
    blocked: list[str] = []
    shots: list[str] = []
    try:
        failure = None
        try:
            server.wait_ready()
        except Exception as exc:
            failure = (f"JupyterLab did not start: {exc}\n$ {' '.join(server.cmd)}\n"
                       f"--- server log ---\n{server.log_tail()}")
        if failure:
            raise pytest.fail.Exception(failure, pytrace=False) from None

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                          service_workers="block")
            context.set_default_timeout(30_000)

            def on_route(route):
                url = route.request.url
                if url.startswith(server.base) or url.startswith(LOCAL_SCHEMES):
                    route.continue_()
                else:
                    blocked.append(url)
                    route.abort()

            context.route("**/*", on_route)
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and console.append(m.text[:300]))
            page.on("pageerror", lambda e: console.append(f"uncaught: {str(e)[:300]}"))

            def shot(name: str) -> None:
                path = SCREENSHOTS / f"{len(shots) + 1:02d}-{name}.png"
                page.screenshot(path=str(path))
                shots.append(path.name)

            @contextlib.contextmanager
            def step(name: str):
                failure = None
                try:
                    yield
                except Exception as exc:
                    with contextlib.suppress(Exception):
                        page.screenshot(path=str(SCREENSHOTS / f"failed-{name}.png"))
                    failure = (
                        f"JupyterLab journey, step {name!r} failed: {type(exc).__name__}: {exc}\n"
                        f"(screenshot: {SCREENSHOTS / f'failed-{name}.png'}; earlier steps: {shots})\n"
                        f"--- browser console errors ---\n" + "\n".join(console[-20:]) +
                        f"\n--- server log tail ---\n{server.log_tail()}")
                if failure:
                    raise pytest.fail.Exception(failure, pytrace=False) from None
                shot(name)

            panel = page.locator(".jp-NotebookPanel")
            cells = panel.locator(".jp-Notebook .jp-Cell")
            indicator = panel.locator(".jp-Notebook-ExecutionIndicator")

            def wait_idle(timeout_ms: int) -> None:
                # data-status goes busy while anything runs; idle when the queue is empty.
                page.wait_for_function(
                    """() => {
                        const el = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
                        return el && el.getAttribute('data-status') === 'idle';
                    }""", timeout=timeout_ms, polling=250)

            def edit(cell) -> None:
                """Put the keyboard in ``cell``'s editor; fail rather than type in command mode
                (where letters are shortcuts that change the notebook)."""
                editor = cell.locator(".cm-content")
                editor.wait_for(state="visible", timeout=10_000)
                editor.click()
                cell.locator(".cm-editor.cm-focused").wait_for(state="visible", timeout=10_000)
                panel.locator(".jp-Notebook.jp-mod-editMode").wait_for(state="attached", timeout=10_000)
                # JupyterLab opens a cell with `editable: false` in a read-only CodeMirror
                # (still contenteditable, but aria-readonly, and typing does nothing).
                assert editor.get_attribute("contenteditable") == "true" \
                    and editor.get_attribute("aria-readonly") != "true", \
                    f"cell {cell_text(cell)!r} opens read-only (`editable: false`?): a student cannot write in it"

            def cell_text(cell) -> str:
                return cell.inner_text()[:80]

            def command_mode() -> None:
                page.keyboard.press("Escape")
                panel.locator(".jp-Notebook.jp-mod-commandMode").wait_for(state="attached", timeout=5_000)

            def outputs_text(i: int) -> str:
                return cells.nth(i).locator(".jp-OutputArea").inner_text()

            # 1. Open "hw1 (1).ipynb"; its kernel starts and goes idle.
            with step("open-notebook"):
                page.goto(f"{server.base}/lab/tree/{urllib.parse.quote(NOTEBOOK)}?token={server.token}",
                          wait_until="domcontentloaded")
                page.locator(".lm-TabBar-tab.jp-mod-current", has_text=NOTEBOOK).wait_for(timeout=120_000)
                panel.wait_for(timeout=60_000)
                assert panel.count() == 1, f"{panel.count()} notebook panels open, expected only {NOTEBOOK}"
                cells.nth(i_export).wait_for(state="attached", timeout=60_000)
                assert cells.count() == len(nb["cells"]), \
                    f"JupyterLab shows {cells.count()} cells, the notebook has {len(nb['cells'])}"
                indicator.wait_for(state="attached", timeout=60_000)
                wait_idle(180_000)

            # 2. Type a derivation into the first "*Your derivation:*" cell and render it.
            derivation = cells.nth(i_derivation)
            with step("type-derivation"):
                assert "Your derivation:" in derivation.inner_text(), derivation.inner_text()[:200]
                derivation.locator(".jp-RenderedMarkdown").dblclick()
                edit(derivation)
                editor = derivation.locator(".cm-content")
                page.keyboard.press("Control+a")
                page.keyboard.type(DERIVATION, delay=5)
                typed = editor.inner_text()
                assert MARKER in typed, f"the typed text did not reach the cell's editor: {typed[:300]!r}"

            with step("render-derivation"):
                page.keyboard.press("Shift+Enter")
                rendered = derivation.locator(".jp-MarkdownOutput")
                rendered.wait_for(state="visible", timeout=10_000)
                page.wait_for_function(
                    "([el, m]) => el.innerText.includes(m)",
                    arg=[rendered.element_handle(), MARKER], timeout=10_000)
                assert "*Your derivation:*" not in rendered.inner_text(), "the markdown was not rendered"
                derivation.scroll_into_view_if_needed()

            # 3. Replace the numerical_grad stub by a correct function, typed as a student
            #    types it (the editor indents the body after the `def` line).
            stub = cells.nth(i_stub)
            with step("write-numerical-grad"):
                edit(stub)
                page.keyboard.press("Control+a")
                page.keyboard.press("Delete")
                for n, line in enumerate(SOLUTION_LINES):
                    if n:
                        page.keyboard.press("Enter")
                    page.keyboard.type(line.lstrip(), delay=5)
                command_mode()
                typed = stub.locator(".cm-content").inner_text()
                assert "np.float64" in typed and "(2 * h)" in typed, f"the code did not reach the cell: {typed!r}"

            # 4. Run from the top down to the check cell, and see the check pass.
            with step("run-to-check"):
                cells.nth(0).click()
                command_mode()
                for _ in range(i_check + 1):
                    page.keyboard.press("Shift+Enter")
                check_out = cells.nth(i_check).locator(".jp-OutputArea-output")
                check_out.first.wait_for(state="visible", timeout=180_000)
                wait_idle(180_000)
                text = outputs_text(i_check)
                assert re.search(rf"{CHECK}\s+passed!", text), f"the check did not pass; it shows: {text[:1500]!r}"
                for i in range(i_check + 1):
                    if nb["cells"][i]["cell_type"] == "code":
                        out = outputs_text(i)
                        assert "Traceback" not in out and "Error" not in out, \
                            f"cell {i} ({''.join(nb['cells'][i]['source'])[:60]!r}) shows an error:\n{out[:2000]}"
                        # activation_course.notebook warns when it cannot tell the copies apart
                        assert "cannot tell which notebook" not in out, \
                            f"the kernel could not tell which notebook it runs (cell {i}):\n{out[:2000]}"
                cells.nth(i_check).scroll_into_view_if_needed()

            # 5. Save (Ctrl+S) and wait until the file on disk holds the work.
            with step("save"):
                command_mode()
                page.keyboard.press("Control+s")
                page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty").wait_for(state="detached",
                                                                                      timeout=30_000)
                deadline = time.monotonic() + 30
                while True:
                    saved = json.loads((folder / NOTEBOOK).read_text())
                    if MARKER in "".join(saved["cells"][i_derivation]["source"]):
                        break
                    assert time.monotonic() < deadline, f"{NOTEBOOK} on disk does not hold the typed derivation"
                    time.sleep(0.5)
                assert "".join(saved["cells"][i_stub]["source"]) == SOLUTION, \
                    f"the saved numerical_grad cell differs from what was typed:\n{''.join(saved['cells'][i_stub]['source'])}"
                assert (folder / "hw1.ipynb").read_bytes() == blank, "saving changed hw1.ipynb"

            # 6. Run the export cell (the last code cell); it validates the zip (tens of seconds).
            with step("export"):
                export = cells.nth(i_export)
                export.locator(".jp-InputArea-editor").click()
                page.keyboard.press("Shift+Enter")
                export.locator(".jp-OutputArea-output", has_text="Your submission has been exported").wait_for(
                    state="visible", timeout=420_000)
                wait_idle(60_000)
                text = outputs_text(i_export)
                # The link is the last thing export() displays: it returned without raising.
                assert f"Exporting {NOTEBOOK}" in text, f"the export did not name {NOTEBOOK}: {text[:2000]!r}"
                # run_tests=True ran the zipped notebook against the public tests: the typed
                # numerical_grad is in it (the other questions are unanswered and fail).
                assert f"{CHECK} results: All test cases passed!" in text, \
                    f"the exported notebook does not pass {CHECK}:\n{text[:3000]}"
                export.evaluate("el => el.scrollIntoView({block: 'start'})")
                shot("export-start")
                export.locator(".jp-OutputArea").evaluate("el => el.scrollIntoView({block: 'end'})")
            context.close()
            browser.close()

        # 7. The zip holds "hw1 (1).ipynb" with the student's work, not the blank hw1.ipynb.
        zips = sorted(folder.glob("*.zip"))
        assert [z.name for z in zips if z.name.startswith("hw1 (1)_")] and len(zips) == 1, \
            f"expected one 'hw1 (1)_<timestamp>.zip' in the folder, found {[z.name for z in zips]}"
        with zipfile.ZipFile(zips[0]) as zf:
            names = zf.namelist()
            assert NOTEBOOK in names, f"{zips[0].name} does not hold {NOTEBOOK}: {names}"
            assert "hw1.ipynb" not in names, f"{zips[0].name} holds the blank hw1.ipynb: {names}"
            exported = json.loads(zf.read(NOTEBOOK))
        sources = ["".join(c["source"]) for c in exported["cells"]]
        assert any(MARKER in s for s, c in zip(sources, exported["cells"]) if c["cell_type"] == "markdown"), \
            f"the typed derivation ({MARKER}) is not in the exported {NOTEBOOK}"
        assert SOLUTION in sources, f"the typed numerical_grad is not in the exported {NOTEBOOK}"
        assert (folder / "hw1.ipynb").read_bytes() == blank, "hw1.ipynb was modified"
        assert not blocked, f"the page tried to reach other hosts: {sorted(set(blocked))}"
    finally:
        survivors = server.stop()
        TIMINGS["jupyterlab journey"] = time.monotonic() - start
    assert not survivors, f"JupyterLab or its kernels outlived the test: pids {survivors}"
    print(f"\nJupyterLab journey: {TIMINGS['jupyterlab journey']:.1f} s; screenshots in {SCREENSHOTS}: {shots}")
