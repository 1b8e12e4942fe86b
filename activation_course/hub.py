"""Links that open the course's notebooks on its JupyterHub, pulled with nbgitpuller.

A link ``{hub}/hub/user-redirect/git-pull?repo=...&urlpath=...&branch=...`` logs the
student into the hub, starts their server, has nbgitpuller clone (the first time) or
merge (every later time) the course's public repository into their home, then opens
the notebook in JupyterLab. A student's own edits survive a later pull: nbgitpuller
keeps the student's side where both changed the same lines.

Everything comes from the book's ``_config.yml``, the one place these settings live:

* ``launch_buttons.jupyterhub_url``: the course's hub (empty or absent: no hub, no links);
* ``repository.url`` and ``repository.branch``: the student edition's repository;
* ``launch_buttons.notebook_interface``: ``jupyterlab`` (``lab/tree``) or ``classic`` (``tree``).

The links have the form Jupyter Book's own JupyterHub launch button gives a chapter
(sphinx-book-theme), so a chapter's button and an assignment's link clone into the
same folder, ``~/<repository name>``. The book's assignments page and the student
edition's README (written by ``make release``) both list :func:`assignment_links`;
the assignments are the ``assignments/<hw>/<hw>.ipynb`` notebooks next to the
configuration, never a hand-typed list.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

__all__ = ["HubSettings", "find_config", "assignment_notebooks", "nbgitpuller_link",
           "assignment_links", "assignment_links_markdown", "assignment_links_html"]

CONFIG_NAME = "_config.yml"
INTERFACES = {"jupyterlab": "lab/tree", "classic": "tree"}  # as sphinx-book-theme's button


@dataclass(frozen=True)
class HubSettings:
    """The hub and repository settings of ``_config.yml``."""

    hub_url: str      # "" when the course has no hub
    repo_url: str
    branch: str
    interface: str    # a key of INTERFACES

    @classmethod
    def from_config(cls, config: Path) -> "HubSettings":
        """The hub settings of a Jupyter Book ``_config.yml``.

        Args:
            config: the path of ``_config.yml``.

        Returns:
            The :class:`HubSettings` (``hub_url`` empty when the course has no hub).

        Raises:
            ValueError: a hub without a repository, or an unknown notebook interface.
        """
        import yaml  # jupyter-book and jupyter_server bring it; imported only when links are made

        data = yaml.safe_load(Path(config).read_text()) or {}
        repo = data.get("repository") or {}
        launch = data.get("launch_buttons") or {}
        settings = cls(hub_url=str(launch.get("jupyterhub_url") or "").strip().rstrip("/"),
                       repo_url=str(repo.get("url") or "").strip().rstrip("/"),
                       # the defaults are Jupyter Book's, so the button and the links agree
                       branch=str(repo.get("branch") or "master").strip(),
                       interface=str(launch.get("notebook_interface") or "classic").strip())
        if settings.hub_url and not settings.repo_url:
            raise ValueError(f"{config}: launch_buttons.jupyterhub_url is set but repository.url is not")
        if settings.interface not in INTERFACES:
            raise ValueError(f"{config}: launch_buttons.notebook_interface must be one of "
                             f"{sorted(INTERFACES)}, not {settings.interface!r}")
        return settings

    @property
    def folder(self) -> str:
        """The folder nbgitpuller clones into, in the student's home (the repository's name)."""
        return self.repo_url.rstrip("/").split("/")[-1]


def find_config(start: Path | None = None) -> Path:
    """``_config.yml`` in ``start`` (default: the working directory) or the nearest folder above.

    Args:
        start: the folder to start from, or ``None`` for the working directory.

    Returns:
        The path of ``_config.yml``.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME
    raise FileNotFoundError(f"no {CONFIG_NAME} in {here} or above it")


def assignment_notebooks(root: Path) -> dict[str, str]:
    """Each assignment's notebook, as a path relative to ``root``: ``{"hw1": "assignments/hw1/hw1.ipynb"}``.

    Args:
        root: the repository's (or the student edition's) root.

    Returns:
        ``{assignment: notebook path relative to root}``, sorted by name, for every
        ``assignments/<name>/<name>.ipynb`` under ``root``.
    """
    folder = Path(root) / "assignments"
    return {p.name: f"assignments/{p.name}/{p.name}.ipynb"
            for p in sorted(folder.iterdir()) if (p / f"{p.name}.ipynb").is_file()}


def nbgitpuller_link(settings: HubSettings, path: str) -> str:
    """The hub link that pulls the repository and opens ``path`` (relative to its root).

    Args:
        settings: the hub's settings.
        path: the file to open, relative to the repository's root.

    Returns:
        The link, a string.
    """
    if not settings.hub_url:
        raise ValueError("no JupyterHub configured (launch_buttons.jupyterhub_url in _config.yml)")
    query = urlencode({"repo": settings.repo_url,
                       "urlpath": f"{INTERFACES[settings.interface]}/{settings.folder}/{path.lstrip('/')}",
                       "branch": settings.branch}, safe="/")
    return f"{settings.hub_url}/hub/user-redirect/git-pull?{query}"


def assignment_links(config: Path | None = None) -> dict[str, str]:
    """``{assignment: hub link}`` for every assignment next to ``config``; empty without a hub.

    Args:
        config: the book's ``_config.yml``, or ``None`` to find it (:func:`find_config`).

    Returns:
        ``{assignment: hub link}``.
    """
    config = Path(config) if config else find_config()
    settings = HubSettings.from_config(config)
    if not settings.hub_url:
        return {}
    return {hw: nbgitpuller_link(settings, path) for hw, path in assignment_notebooks(config.parent).items()}


def _title(notebook: Path) -> str:
    """The notebook's first ``# `` heading (``Assignment 1: ...``), or its name."""
    for cell in json.loads(notebook.read_text()).get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return notebook.stem


NO_HUB = ("This course has no JupyterHub configured (`launch_buttons.jupyterhub_url` in "
          "`_config.yml`): work on your own machine, or on Binder from a chapter's rocket button.")


def _entries(config: Path | None) -> list[tuple[str, str, str]]:
    """``(title, link, notebook path)`` per assignment; empty without a hub."""
    config = Path(config) if config else find_config()
    notebooks = assignment_notebooks(config.parent)
    return [(_title(config.parent / notebooks[hw]), url, notebooks[hw])
            for hw, url in assignment_links(config).items()]


def assignment_links_markdown(config: Path | None = None) -> str:
    """A Markdown list of :func:`assignment_links`, one line per assignment, titled as its
    notebook (the student edition's README).

    Args:
        config: the book's ``_config.yml``, or ``None`` to find it.

    Returns:
        The Markdown, a string (``NO_HUB``'s sentence without a hub).
    """
    entries = _entries(config)
    if not entries:
        return NO_HUB
    return "\n".join(f"- [{title}]({url}) (`{path}`)" for title, url, path in entries)


def assignment_links_html(config: Path | None = None) -> str:
    """The same list in HTML (the book's assignments page). The book does not get it as
    Markdown: myst-parser 3 escapes a link's ``&`` twice, which breaks these links.

    Args:
        config: the book's ``_config.yml``, or ``None`` to find it.

    Returns:
        The HTML, a string (``NO_HUB``'s sentence without a hub).
    """
    entries = _entries(config)
    if not entries:
        return f"<p>{html.escape(NO_HUB.replace('`', ''))}</p>"
    items = "".join(f'<li><a href="{html.escape(url)}">{html.escape(title)}</a> '
                    f"(<code>{html.escape(path)}</code>)</li>" for title, url, path in entries)
    return f'<ul class="hub-links">{items}</ul>'
