"""The course's JupyterHub, rehearsed end to end on 127.0.0.1 (issue 20).

A real JupyterHub (PyPI ``jupyterhub``) with ``DummyAuthenticator``,
``SimpleLocalProcessSpawner`` (user homes under the test's temporary folder) and
Debian's ``configurable-http-proxy``, all on loopback ports. The student edition
(``release.write_edition``) is committed to a local bare git repository named as the
course's repository (``repository.url`` in ``_config.yml``), and the link's ``repo=``
is its ``file://`` URL. The link itself is the one the edition's README gives for
hw1 (``make release`` writes it from ``_config.yml``), with the hub's host swapped for
the local one and ``repo=`` for the bare repository; nothing else of it is changed.

1. the hub starts; a user is created and their server started through the REST API
   (a service token, always in an ``Authorization`` header: JupyterHub 5+ refuses
   tokens in URLs);
2. Chromium (Debian's, driven by Playwright) follows the link, logs in on the hub's
   Dummy login form, and nbgitpuller's page pulls the repository; the page's final
   redirect, to ``lab/tree/<repository>/assignments/hw1/hw1.ipynb``, is caught (the
   JupyterLab journey test covers JupyterLab itself) and
   ``~/<repository>/assignments/hw1/hw1.ipynb`` is in the user's home;
3. a kernel started through the user's server (REST + websocket, as JupyterLab does)
   runs hw1's first cell and ``grader.check`` on the stub (the check fails and says
   so) and on a student's answer (it passes); the answer is saved into the notebook
   through the server's contents API, as JupyterLab's save does;
4. the instructor commits a change to the edition (hw1's title cell and a new file);
   following the link again, nbgitpuller merges: the student's answer stays, the
   change arrives;
5. the server and the hub are stopped; no process the test started is left, and no
   port it used still listens.

The single-user server is the project's ``.venv`` ``jupyterhub-singleuser`` (it has
the edition's packages: otter-grader, the course package, nbgitpuller), as a hub's
image built from the edition's requirements would. The spawner runs it as this
test's own user. Each step's time goes to ``TIMINGS`` (printed at the end of the
session); the whole rehearsal must take under 2 minutes.
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
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from course_tools import release
from course_tools.grading.sandbox import descendants
from edition_support import REPO, TIMINGS, clean_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BUDGET_S = 120
PROXY = Path(os.environ.get("CONFIGURABLE_HTTP_PROXY")
             or shutil.which("configurable-http-proxy") or "/usr/bin/configurable-http-proxy")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VENV_BIN = Path(sys.executable).parent
USER = "student"
CHECK = "q1_numerical_grad"
SOLUTION = ("def numerical_grad(f, z, h=1e-5):\n"
            "    z = np.asarray(z, dtype=np.float64)\n"
            "    return (f(z + h) - f(z - h)) / (2 * h)")
UPSTREAM_FIX = "Errata (rehearsal): the instructor fixed this line after the assignment went out."
GIT_ID = ["-c", "user.name=Instructor", "-c", "user.email=instructor@example.org"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _git(*args: str, cwd: Path) -> str:
    env = clean_env(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def _readme_link(edition: Path, notebook: str) -> str:
    """The README's link whose urlpath opens ``notebook``."""
    links = re.findall(r"\]\((https?://[^)\s]+/hub/user-redirect/git-pull\?[^)\s]+)\)",
                       (edition / "README.md").read_text())
    matching = [u for u in links if urllib.parse.parse_qs(urllib.parse.urlsplit(u).query)["urlpath"][0]
                .endswith("/" + notebook)]
    assert len(matching) == 1, f"the edition's README has no single link to {notebook}: {links}"
    return matching[0]


class Hub:
    """A JupyterHub on 127.0.0.1 in ``root``: its own process group, always stopped."""

    def __init__(self, root: Path):
        self.root = root
        self.token = secrets.token_hex(32)
        self.proxy_token = secrets.token_hex(32)
        self.port, self.hub_port, self.proxy_api_port = _free_port(), _free_port(), _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.home = root / "homes" / USER
        self.log_path = root / "jupyterhub.log"
        for sub in ("config", "data", "runtime", "ipython"):
            (self.home / ".rehearsal" / sub).mkdir(parents=True, exist_ok=True)
        user_env = {
            "JUPYTER_CONFIG_DIR": str(self.home / ".rehearsal" / "config"),
            "JUPYTER_DATA_DIR": str(self.home / ".rehearsal" / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.home / ".rehearsal" / "runtime"),
            "IPYTHONDIR": str(self.home / ".rehearsal" / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "0", "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        args = ["--allow-root"] if os.geteuid() == 0 else []  # CI containers run as root
        config = f"""
c = get_config()  # noqa
c.JupyterHub.bind_url = {self.base + '/'!r}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.JupyterHub.db_url = {'sqlite:///' + str(root / 'jupyterhub.sqlite')!r}
c.JupyterHub.cookie_secret_file = {str(root / 'jupyterhub_cookie_secret')!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.ConfigurableHTTPProxy.command = [{str(PROXY)!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.proxy_api_port}"
c.ConfigurableHTTPProxy.auth_token = {self.proxy_token!r}
c.ConfigurableHTTPProxy.pid_file = {str(root / 'proxy.pid')!r}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(root / 'homes' / '{username}')!r}
c.Spawner.cmd = [{str(VENV_BIN / 'jupyterhub-singleuser')!r}]
c.Spawner.args = {args!r}
c.Spawner.ip = "127.0.0.1"
c.Spawner.default_url = "/lab"
c.Spawner.environment = {user_env!r}
c.Spawner.start_timeout = 90
c.Spawner.http_timeout = 90
c.JupyterHub.services = [{{"name": "rehearsal", "api_token": {self.token!r}}}]
c.JupyterHub.load_roles = [{{"name": "rehearsal", "services": ["rehearsal"],
                            "scopes": ["admin:users", "admin:servers", "access:servers"]}}]
"""
        (root / "jupyterhub_config.py").write_text(config)
        env = clean_env()
        env["PATH"] = os.pathsep.join([str(VENV_BIN), env["PATH"]])
        if str(PROXY.resolve()).startswith("/usr/share/nodejs/"):
            # Debian's proxy finds its modules on Debian's node path; a node from elsewhere
            # (NodeSource's, on some machines) does not look there.
            env["NODE_PATH"] = os.pathsep.join(p for p in ("/usr/share/nodejs", env.get("NODE_PATH")) if p)
        self.cmd = [str(VENV_BIN / "jupyterhub"), "-f", str(root / "jupyterhub_config.py")]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, cwd=root, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pids: set[int] = {self.proc.pid}
        self.ports: set[int] = {self.port, self.hub_port, self.proxy_api_port}

    def log_tail(self, chars: int = 6000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def request(self, method: str, url: str, body=None, timeout: float = 30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url if url.startswith("http") else self.base + url, data=data,
                                     method=method, headers={"Authorization": f"token {self.token}",
                                                             "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def watch(self) -> None:
        """Remember every process and listening port below the hub (to check at the end)."""
        self.pids.update(descendants(self.proc.pid))
        for pid in list(self.pids):
            self.ports.update(_listening_ports(pid))

    def wait_ready(self, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {self.proc.returncode}")
            with contextlib.suppress(urllib.error.URLError, ConnectionError, OSError):
                return self.request("GET", "/hub/api/", timeout=5)
            time.sleep(0.3)
        raise TimeoutError(f"the hub did not answer on {self.base} within {timeout:.0f} s")

    def stop(self) -> tuple[list[int], list[int]]:
        """Stop the user's server, then the hub (which stops its proxy); kill what is left.
        Returns the processes still alive and the ports still listening."""
        self.watch()
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.request("DELETE", f"/hub/api/users/{USER}/server", timeout=30)
                deadline = time.monotonic() + 30
                while self.request("GET", f"/hub/api/users/{USER}")["servers"] and time.monotonic() < deadline:
                    time.sleep(0.3)
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        for pid in [self.proc.pid, *sorted(self.pids - {self.proc.pid})]:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._log.close()
        deadline = time.monotonic() + 10
        while (any(_alive(p) for p in self.pids) or any(_listening(p) for p in self.ports)) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        return sorted(p for p in self.pids if _alive(p)), sorted(p for p in self.ports if _listening(p))


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports ``pid`` listens on (from /proc: its socket inodes in /proc/net/tcp)."""
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                  if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")}
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class Kernel:
    """A kernel of the user's server, driven over its websocket as JupyterLab drives it."""

    def __init__(self, hub: Hub, server: str, path: str):
        import websocket  # websocket-client, a jupyter_server dependency

        self.session_id = uuid.uuid4().hex
        session = hub.request("POST", f"{server}api/sessions",
                              {"path": path, "name": Path(path).name, "type": "notebook",
                               "kernel": {"name": "python3"}})
        self.kernel_id = session["kernel"]["id"]
        ws_url = (f"ws://127.0.0.1:{hub.port}{urllib.parse.urlsplit(server).path}"
                  f"api/kernels/{self.kernel_id}/channels?session_id={self.session_id}")
        self.ws = websocket.create_connection(ws_url, header=[f"Authorization: token {hub.token}"], timeout=60)

    def execute(self, code: str, timeout: float = 90) -> tuple[str, str]:
        """Run ``code``; return the reply's status and the text of every output."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": USER,
                       "session": self.session_id, "date": datetime.now(timezone.utc).isoformat(),
                       "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        texts, status, idle = [], None, False
        deadline = time.monotonic() + timeout
        while status is None or not idle:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                texts.append(content["text"])
            elif kind in ("display_data", "execute_result"):
                texts.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                texts.append("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            elif kind == "execute_reply":
                status = content["status"]
        return status, "\n".join(texts)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_jupyterhub_rehearsal(tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    for what, path in (("configurable-http-proxy", PROXY), ("chromium", Path(CHROMIUM)),
                       ("jupyterhub", VENV_BIN / "jupyterhub"),
                       ("jupyterhub-singleuser", VENV_BIN / "jupyterhub-singleuser")):
        if not path.exists():
            pytest.fail(f"{what} not found at {path} (.ci/run installs the Debian packages, "
                        "`make install` the Python ones)", pytrace=False)
    times: dict[str, float] = {}
    started = time.monotonic()

    @contextlib.contextmanager
    def step(name: str):
        t0 = time.monotonic()
        try:
            yield
        finally:
            times[name] = time.monotonic() - t0
            TIMINGS[f"hub rehearsal: {name}"] = times[name]

    # The course's settings, read here independently of activation_course.hub.
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    repo_url = config["repository"]["url"].rstrip("/")
    branch = config["repository"]["branch"]
    hub_url = config["launch_buttons"]["jupyterhub_url"].rstrip("/")
    repo_name = repo_url.rsplit("/", 1)[1]

    # 0. The student edition, committed to a bare repository named as the course's.
    with step("edition into a bare git repository"):
        edition = tmp_path / "instructor" / repo_name
        release.write_edition(edition)
        remote = tmp_path / "remote" / repo_name
        remote.mkdir(parents=True)
        _git("init", "-q", "--bare", "-b", branch, cwd=remote)
        _git("init", "-q", "-b", branch, cwd=edition)
        _git("add", "-A", cwd=edition)
        _git("commit", "-q", "-m", "Student edition", cwd=edition)
        _git("remote", "add", "origin", remote.as_uri(), cwd=edition)
        _git("push", "-q", "origin", branch, cwd=edition)
        first_commit = _git("rev-parse", "HEAD", cwd=edition)

    link = _readme_link(edition, "assignments/hw1/hw1.ipynb")
    parts = urllib.parse.urlsplit(link)
    query = urllib.parse.parse_qs(parts.query)
    assert link.startswith(hub_url + "/hub/user-redirect/git-pull?"), link
    assert query["repo"] == [repo_url] and query["branch"] == [branch], query
    notebook_rel = f"{repo_name}/assignments/hw1/hw1.ipynb"
    assert query["urlpath"] == [f"lab/tree/{notebook_rel}"], query

    hub = Hub(tmp_path / "hub")
    local = urllib.parse.urlsplit(hub.base)
    local_link = urllib.parse.urlunsplit((local.scheme, local.netloc, parts.path, urllib.parse.urlencode(
        {**{k: v[0] for k, v in query.items()}, "repo": remote.as_uri()}, safe="/"), ""))
    student_nb = hub.home / notebook_rel
    redirects: list[str] = []
    blocked: list[str] = []

    def fail(what: str, exc: BaseException | None = None):
        detail = f"{type(exc).__name__}: {exc}\n" if exc else ""
        raise pytest.fail.Exception(f"hub rehearsal, {what}: {detail}steps so far: {times}\n"
                                    f"--- hub log tail ---\n{hub.log_tail()}", pytrace=False) from None

    try:
        # 1. The hub; a user and their server, through the REST API.
        with step("hub start"):
            try:
                info = hub.wait_ready()
            except Exception as exc:
                fail("the hub did not start", exc)
            assert int(info["version"].split(".")[0]) >= 5, info
        with step("user and server start (REST API)"):
            hub.request("POST", f"/hub/api/users/{USER}")
            hub.request("POST", f"/hub/api/users/{USER}/server")
            deadline = time.monotonic() + 90
            while not (server := hub.request("GET", f"/hub/api/users/{USER}")["servers"].get("", {})).get("ready"):
                if time.monotonic() > deadline:
                    fail(f"{USER}'s server is not ready after 90 s: {server}")
                time.sleep(0.3)
            server_url = hub.base + server["url"]  # /user/student/
            hub.watch()
        # Tokens in a URL are refused (JupyterHub 5+): the rehearsal sends them as headers.
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{hub.base}/hub/api/users/{USER}?token={hub.token}", timeout=10)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(service_workers="block")
            context.set_default_timeout(60_000)

            def on_route(route):
                url = route.request.url
                if not url.startswith(hub.base):
                    blocked.append(url)
                    route.abort()
                elif urllib.parse.urlsplit(url).path.startswith(f"/user/{USER}/lab/tree/"):
                    # nbgitpuller's redirect after a finished pull: note it, do not load JupyterLab.
                    redirects.append(url)
                    route.fulfill(status=200, content_type="text/html", body="<p>JupyterLab would open here</p>")
                else:
                    route.continue_()

            context.route("**/*", on_route)
            page = context.new_page()

            def follow(name: str) -> None:
                before = len(redirects)
                with step(name):
                    try:
                        page.goto(local_link, wait_until="domcontentloaded")
                        if "/hub/login" in page.url:  # the Dummy login form, once
                            page.fill("#username_input", USER)
                            page.fill("#password_input", "any password")
                            page.click("#login_submit")
                        page.wait_for_url(f"**/user/{USER}/lab/tree/**", timeout=90_000)
                    except Exception as exc:
                        with contextlib.suppress(Exception):
                            fail(f"{name}: the link did not end in JupyterLab (page {page.url}, "
                                 f"text {page.inner_text('body')[:1500]!r})", exc)
                        fail(name, exc)
                assert len(redirects) == before + 1, redirects
                assert urllib.parse.unquote(urllib.parse.urlsplit(redirects[-1]).path) == \
                    f"/user/{USER}/lab/tree/{notebook_rel}", redirects[-1]

            # 2. Follow the link: log in, nbgitpuller clones, the page sends us to the notebook.
            follow("first link: login, clone, redirect")
            hub.watch()
            assert student_nb.is_file(), f"{student_nb} missing after the pull"
            assert _git("rev-parse", "HEAD", cwd=hub.home / repo_name) == first_commit
            assert json.loads(student_nb.read_text()) == json.loads(
                (edition / "assignments" / "hw1" / "hw1.ipynb").read_text())

            # 3. hw1's first cell and a check, in a kernel of the user's server.
            nb = json.loads(student_nb.read_text())
            code = [c for c in nb["cells"] if c["cell_type"] == "code"]
            i_stub = next(i for i, c in enumerate(nb["cells"]) if _source(c).startswith("def numerical_grad("))
            with step("kernel: first cell, check on the stub and on an answer"):
                kernel = Kernel(hub, server_url, notebook_rel)
                try:
                    hub.watch()
                    assert "grader = Notebook(" in _source(code[0]), _source(code[0])
                    for cell in (code[0], code[1], nb["cells"][i_stub]):
                        status, out = kernel.execute(_source(cell))
                        assert status == "ok", f"cell {_source(cell)[:60]!r} failed:\n{out}"
                    # the grader's notebook lookup asks the hub's server with the token in
                    # a header (a token in the URL gets 403 there), so it follows renames
                    status, out = kernel.execute("from activation_course.notebook import "
                                                 "_server_sessions_path as p; print(p())")
                    assert status == "ok" and Path(out.strip()).resolve() == student_nb.resolve(), out
                    status, stub_report = kernel.execute(f'grader.check("{CHECK}")')
                    assert status == "ok" and f"{CHECK} results:" in stub_report \
                        and "passed!" not in stub_report, stub_report
                    status, out = kernel.execute(SOLUTION)
                    assert status == "ok", out
                    status, report = kernel.execute(f'grader.check("{CHECK}")')
                    assert status == "ok" and re.search(rf"{CHECK}\s+(results: All test cases )?passed!", report), \
                        report
                finally:
                    kernel.close()
            # The student's answer, saved as JupyterLab saves it (the contents API).
            with step("save the answer (contents API)"):
                model = hub.request("GET", f"{server_url}api/contents/{notebook_rel}?content=1")
                model["content"]["cells"][i_stub]["source"] = SOLUTION
                hub.request("PUT", f"{server_url}api/contents/{notebook_rel}",
                            {"type": "notebook", "format": "json", "content": model["content"]})
            assert _source(json.loads(student_nb.read_text())["cells"][i_stub]) == SOLUTION

            # 4. The instructor changes the edition; the link again: nbgitpuller merges.
            with step("instructor commits a change"):
                upstream = edition / "assignments" / "hw1" / "hw1.ipynb"
                master = json.loads(upstream.read_text())
                title = master["cells"][0]
                title["source"] = [*title["source"][:1], "\n", UPSTREAM_FIX + "\n", *title["source"][1:]]
                upstream.write_text(json.dumps(master, indent=1, ensure_ascii=False) + "\n")
                (upstream.parent / "ERRATA.md").write_text(UPSTREAM_FIX + "\n")
                _git("commit", "-q", "-am", "hw1: an erratum", cwd=edition)
                _git("add", "-A", cwd=edition)
                _git("commit", "-q", "-m", "hw1: the errata file", cwd=edition)
                _git("push", "-q", "origin", branch, cwd=edition)
                second_commit = _git("rev-parse", "HEAD", cwd=edition)
            follow("second link: merge, redirect")
            merged = json.loads(student_nb.read_text())
            assert _source(merged["cells"][i_stub]) == SOLUTION, "the pull lost the student's answer"
            assert UPSTREAM_FIX in _source(merged["cells"][0]), "the pull did not bring the change to hw1.ipynb"
            assert (student_nb.parent / "ERRATA.md").read_text().strip() == UPSTREAM_FIX
            history = _git("log", "--format=%H", cwd=hub.home / repo_name).split()
            assert second_commit in history and first_commit in history, history
            context.close()
            browser.close()
        assert not blocked, f"the pages tried to reach other hosts: {sorted(set(blocked))}"
    finally:
        with step("stop everything"):
            hub.watch()
            survivors, open_ports = hub.stop()
        total = time.monotonic() - started
        TIMINGS["hub rehearsal: total"] = total
        print("\nJupyterHub rehearsal:\n" + "\n".join(f"  {k}: {v:.1f} s" for k, v in times.items())
              + f"\n  total: {total:.1f} s")
    assert not survivors, f"processes the hub started outlived the test: {survivors}"
    assert not open_ports, f"ports still listening after the stop: {open_ports}"
    assert total < BUDGET_S, f"the rehearsal took {total:.0f} s, more than {BUDGET_S} s: {times}"
