"""The JupyterHub links: the book's launch button, the assignments page, the edition's README.

Oracles: ``_config.yml`` read here with PyYAML, the assignments as the folders of
``solutions/``, and sphinx-book-theme's own JupyterHub button (built independently of
:mod:`activation_course.hub`) for the link's form. The rehearsal
(``test_jupyterhub.py``) follows one of these links on a real hub.
"""
from __future__ import annotations

import html.parser
import json
import re
import shutil
import urllib.parse
from pathlib import Path

import pytest
import yaml

from activation_course import hub
from course_tools import release
from course_tools.assign import masters
from edition_support import REPO, run_in_venv

HTML = REPO / "_build" / "html"
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
HUB_URL = CONFIG["launch_buttons"]["jupyterhub_url"].rstrip("/")
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]
FOLDER = REPO_URL.rsplit("/", 1)[1]
HWS = sorted(masters())  # every assignment in solutions/


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href and "/git-pull?" in href:
            self.hrefs.append(href)


def hub_hrefs(page: Path) -> list[str]:
    parser = _Links()
    parser.feed(page.read_text())
    return parser.hrefs


def check_link(url: str, path: str) -> None:
    """``url`` opens ``path`` (relative to the edition's root) on the configured hub."""
    parts = urllib.parse.urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{HUB_URL}/hub/user-redirect/git-pull", url
    query = urllib.parse.parse_qs(parts.query, strict_parsing=True)
    assert query == {"repo": [REPO_URL], "branch": [BRANCH], "urlpath": [f"lab/tree/{FOLDER}/{path}"]}, url


def built(page: str) -> Path:
    path = HTML / "book" / page
    if not path.is_file():
        pytest.skip("the book is not built (make book-fast builds it before the tests)")
    return path


def test_config_turns_the_hub_on():
    assert HUB_URL.startswith("https://"), "launch_buttons.jupyterhub_url is not set in _config.yml"
    assert CONFIG["launch_buttons"]["notebook_interface"] == "jupyterlab"


def test_every_chapter_has_a_jupyterhub_button_the_links_agree_with():
    chapters = sorted(p.stem for p in (REPO / "book").glob("0*.md"))
    for name in chapters:
        buttons = [h for h in hub_hrefs(built(f"{name}.html")) if "urlpath=lab/tree/" + FOLDER + "/book/" in h]
        assert len(buttons) == 1, f"{name}.html: {buttons}"
        check_link(buttons[0], f"book/{name}.md")
        # the theme's button and our links are the same link, byte for byte
        settings = hub.HubSettings.from_config(REPO / "_config.yml")
        assert buttons[0] == hub.nbgitpuller_link(settings, f"book/{name}.md")


def test_assignments_page_links_every_assignment(release_dir):
    links = [h for h in hub_hrefs(built("05-assignments.html")) if "/assignments/" in h]
    paths = [f"assignments/{hw}/{hw}.ipynb" for hw in HWS]
    assert len(links) == len(HWS) == 3, links
    for url, path in zip(links, paths):
        check_link(url, path)
        assert (release_dir / path).is_file(), f"the link opens {path}, which the edition lacks"


def test_edition_readme_links_every_assignment(release_dir):
    text = (release_dir / "README.md").read_text()
    assert release.HUB_LINKS not in text
    links = re.findall(r"\]\((https://[^)\s]+/git-pull\?[^)\s]+)\)", text)
    assert len(links) == len(HWS), links
    for url, hw in zip(links, HWS):
        check_link(url, f"assignments/{hw}/{hw}.ipynb")
    titles = re.findall(r"^- \[([^\]]+)\]\(", text, re.M)
    for title, hw in zip(titles, HWS):
        first = json.loads((release_dir / "assignments" / hw / f"{hw}.ipynb").read_text())["cells"][0]
        assert "".join(first["source"]).startswith(f"# {title}\n"), (hw, title)


def test_edition_requirements_make_a_hub_image(release_dir):
    lines = [ln.split("#")[0].strip() for ln in (release_dir / "requirements.txt").read_text().splitlines()]
    assert any(re.match(r"nbgitpuller\b", ln) for ln in lines), lines


def test_no_hub_configured_means_no_links(tmp_path):
    config = dict(CONFIG, launch_buttons={**CONFIG["launch_buttons"], "jupyterhub_url": ""})
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    shutil.copytree(REPO / "assignments" / "hw1", tmp_path / "assignments" / "hw1")
    assert hub.assignment_links(tmp_path / "_config.yml") == {}
    assert hub.assignment_links_markdown(tmp_path / "_config.yml") == hub.NO_HUB
    assert "<a " not in hub.assignment_links_html(tmp_path / "_config.yml")
    with pytest.raises(ValueError):
        hub.nbgitpuller_link(hub.HubSettings.from_config(tmp_path / "_config.yml"), "x.ipynb")


def test_links_follow_the_config_and_the_assignments_folder(tmp_path):
    """Another hub, repository, branch and interface; one assignment folder."""
    config = dict(CONFIG, repository={"url": "https://gitlab.example.org/course/act-2027/", "branch": "spring"},
                  launch_buttons={"notebook_interface": "classic", "jupyterhub_url": "https://hub.uni.example/"})
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    shutil.copytree(REPO / "assignments" / "hw2", tmp_path / "assignments" / "hw2")
    (tmp_path / "assignments" / "notes").mkdir()  # a folder without its notebook is no assignment
    links = hub.assignment_links(tmp_path / "_config.yml")
    assert list(links) == ["hw2"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(links["hw2"]).query)
    assert links["hw2"].startswith("https://hub.uni.example/hub/user-redirect/git-pull?")
    assert query == {"repo": ["https://gitlab.example.org/course/act-2027"], "branch": ["spring"],
                     "urlpath": ["tree/act-2027/assignments/hw2/hw2.ipynb"]}
    anchors = re.findall(r'href="([^"]+)"', hub.assignment_links_html(tmp_path / "_config.yml"))
    assert [a.replace("&amp;", "&") for a in anchors] == [links["hw2"]]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # builds ``student_venv`` when it is the first test that needs it
def test_edition_environment_serves_nbgitpuller(student_venv, release_dir):
    """A hub image built from the edition's requirements has nbgitpuller's server
    extension enabled (the link's ``git-pull`` handler)."""
    proc = run_in_venv(student_venv, ["jupyter", "server", "extension", "list"], cwd=release_dir, timeout=120)
    listing = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # its colours
    assert proc.returncode == 0, listing
    assert re.search(r"nbgitpuller\s+enabled", listing), listing
