"""The grading environment (``environment``): what environment.yml asks for, the one
subprocess-environment helper, and the cached venv itself (built once, reused, without
the course package or the checkout on its path)."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course_tools.grading import environment
from course_tools.grading.environment import ensure_env, read_spec
from course_tools.processes import subprocess_env

REPO = Path(__file__).resolve().parents[2]
HW1_ZIP = REPO / "autograder" / "hw1" / "hw1-autograder.zip"


def test_read_spec_of_the_course_zip():
    spec = read_spec(zipfile.ZipFile(HW1_ZIP).read("environment.yml").decode())
    assert spec.python == "3.13"
    assert "jupyter_server" in spec.requirements and "ipykernel" in spec.requirements
    assert "otter-grader[grading,plugins]==7.0.0" in spec.requirements
    assert any(r.startswith("torch") for r in spec.requirements)
    assert spec.pip_options == ["--extra-index-url https://download.pytorch.org/whl/cpu"]
    assert len(spec.digest) == 16 and read_spec("dependencies: [pip]\n").digest != spec.digest


def test_subprocess_env_drops_what_would_leak_the_checkout(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("PATH", f"{REPO / '.venv' / 'bin'}:/usr/bin")
    env = subprocess_env(bin_dir="/grading/bin", threads=1, drop_python_vars=True, EXTRA="x", HOME=None)
    assert "PYTHONPATH" not in env and "HOME" not in env and env["EXTRA"] == "x"
    assert env["PATH"].split(":")[:2] == ["/grading/bin", "/usr/bin"]
    assert env["OMP_NUM_THREADS"] == "1" and env["MPLBACKEND"] == "Agg"
    kept = subprocess_env()
    assert kept["PYTHONPATH"] == str(REPO)


@pytest.mark.slow
def test_a_kernels_environment_has_none_of_the_instructors_variables(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    env = environment.kernel_env(bin_dir="/env/bin", home="/autograder/submission", threads=2, ACGRADE_X="1")
    assert set(env) == {"PATH", "HOME", "LANG", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                        "PYDEVD_DISABLE_FILE_VALIDATION", "JUPYTER_PLATFORM_DIRS", "PYTHONNOUSERSITE", "ACGRADE_X"}
    assert env["PATH"].split(":")[0] == "/env/bin" and env["HOME"] == "/autograder/submission"
    assert env["OMP_NUM_THREADS"] == "2" and "secret" not in env.values()


def test_the_grading_environment_is_gradescopes_not_the_checkouts(tmp_path):
    """The course zip's environment: otter and the declared packages, no course package,
    nothing of the checkout importable, even with PYTHONPATH pointing at it."""
    env = ensure_env(zipfile.ZipFile(HW1_ZIP).read("environment.yml").decode())
    for pkg in ("otter-grader", "numpy", "scipy", "torch", "matplotlib", "pandas", "scikit-learn", "tqdm",
                "ipykernel", "jupyter-server"):
        assert pkg in env.packages, pkg
    assert env.packages["torch"].endswith("+cpu")
    assert not env.has_module("activation_course") and not env.has_module("course_tools")
    code = ("import sys, json, importlib.util as u; print(json.dumps([sys.path, "
            "[u.find_spec(m) is None for m in ('activation_course', 'course_tools')]]))")
    out = subprocess.run([str(env.python), "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=subprocess_env(bin_dir=env.bin_dir, drop_python_vars=True), check=True).stdout
    path, absent = json.loads(out)
    assert absent == [True, True]
    assert not [p for p in path if p and str(REPO) in p], path


@pytest.mark.slow
def test_first_use_builds_with_a_message_then_reuses(tmp_path):
    text = "name: tiny\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n      - six\n"
    said = []
    env = ensure_env(text, cache=tmp_path, announce=said.append)
    assert said and said[0].startswith("building the grading environment") and "ready" in said[-1]
    assert "six" in env.packages and "ipykernel" in env.packages and "torch" not in env.packages
    manifest = json.loads((env.root / environment.MANIFEST).read_text())
    assert manifest["environment_yml"] == text and manifest["build_seconds"] > 0
    again = []
    assert ensure_env(text, cache=tmp_path, announce=again.append).root == env.root and again == []
    # the moved venv still works under its final name
    out = subprocess.run([str(env.python), "-c", "import sys, six; print(sys.prefix)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(env.root)
    assert sys.version_info[:2] == tuple(int(x) for x in env.python_version.split(".")[:2])
