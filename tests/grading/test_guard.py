"""The guard's snapshot, diff and restore (``guard``), on module tables made for the test:
no kernel. Each case changes something the tests rely on and checks that ``diff`` names
the change and ``restore`` undoes it; honest changes (a lazily added submodule attribute
of a non-strict module) are not reported."""
from __future__ import annotations

import types
from pathlib import Path

import pytest

from course_tools.grading import guard, policy


def double(x):
    return 2 * x


class Tool:
    def check(self):
        return "real"


@pytest.fixture
def world():
    pkg = types.ModuleType("fakepkg")
    pkg.allclose = lambda *a, **k: False
    pkg.double = double
    pkg.Tool = Tool
    pkg.VERSION = "1"
    sub = types.ModuleType("fakepkg.sub")
    sub.helper = abs
    modules = {"fakepkg": pkg, "fakepkg.sub": sub, "unwatched": types.ModuleType("unwatched")}
    Tool.__module__ = "fakepkg"
    snap = guard.take_snapshot(modules, {"fakepkg"}, lambda name: name == "fakepkg")
    yield types.SimpleNamespace(pkg=pkg, sub=sub, modules=modules, snap=snap)
    guard.restore(snap)


def d(w):
    return guard.diff(w.snap, set(policy.WATCHED_DUNDERS), set(policy.BUILTINS_SKIP))


def test_a_clean_world_has_no_findings(world):
    assert d(world) == []


def test_replaced_deleted_and_added_attributes(world):
    original = world.pkg.allclose
    world.pkg.allclose = lambda *a, **k: True
    del world.pkg.double
    world.pkg.cheat = print
    found = d(world)
    assert "replaced fakepkg.allclose" in found and "deleted fakepkg.double" in found
    assert "added fakepkg.cheat" in found
    guard.restore(world.snap)
    assert world.pkg.allclose is original and world.pkg.double is double
    assert not hasattr(world.pkg, "cheat") and d(world) == []


def test_non_strict_modules_may_grow_but_not_change(world):
    world.sub.lazily_loaded = 1          # libraries add to their submodules: not reported
    assert d(world) == []
    world.sub.helper = len
    assert d(world) == ["replaced fakepkg.sub.helper"]
    guard.restore(world.snap)
    assert world.sub.helper is abs


def test_rewritten_code_and_class_methods(world):
    code = double.__code__
    double.__code__ = (lambda x: 0).__code__
    Tool.check = lambda self: "fake"
    found = d(world)
    assert any(f.startswith("rewrote the code of") and "double" in f for f in found)
    assert any(f.endswith("Tool.check") and f.startswith("replaced") for f in found)
    guard.restore(world.snap)
    assert double.__code__ is code and Tool().check() == "real" and double(2) == 4


def test_replaced_sys_modules_entry(world):
    real = world.modules["fakepkg"]
    world.modules["fakepkg"] = types.ModuleType("fakepkg")
    assert "replaced sys.modules['fakepkg']" in d(world)
    guard.restore(world.snap)
    assert world.modules["fakepkg"] is real


def test_bookkeeping_dunders_and_private_data_are_not_findings(world):
    world.pkg.__doc__ = "changed"
    world.pkg._cache = {}
    assert d(world) == []


def test_accept_takes_a_library_rebinding_into_the_snapshot(world):
    """torch.package replaces inspect.getfile while torch is imported: not tampering."""
    patched = lambda obj: "patched"  # noqa: E731
    world.pkg.allclose = patched
    guard.accept(world.snap, world.pkg, "allclose", patched)
    assert d(world) == []
    guard.restore(world.snap)
    assert world.pkg.allclose is patched


def test_the_guard_file_needs_only_the_standard_library_and_otter():
    """It runs in the grading environment, where the course's packages are absent."""
    import ast
    tree = ast.parse(open(guard.__file__).read())
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not mods & {"course_tools", "activation_course"}, mods


def test_torch_warmup_leaves_nothing_for_a_students_first_optimizer_to_change():
    """Without the warm-up a first optimizer changes torch's own classes and globals (what
    the guard's diff would report as tampering); after it, a first SGD and Adam change
    nothing. Run in a fresh interpreter: the warm-up's effects last for the process."""
    import subprocess
    import sys
    from course_tools.grading import policy

    assert policy.warmups_for("x = np.sin(z)\n") == []
    (root, code), = policy.warmups_for("opt = torch.optim.SGD(model.parameters(), lr=0.1)\n")
    assert root == "torch"
    script = f"""
import sys, torch
from course_tools.grading import guard
if sys.argv[1] == "warm":
    exec({code!r}, {{}})
snap = guard.take_snapshot(sys.modules, {{"torch"}}, lambda n: False)
model = torch.nn.Linear(4, 1)
for opt in (torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.Adam(model.parameters())):
    model(torch.randn(8, 4)).pow(2).mean().backward()
    opt.step()
print(guard.diff(snap))
"""
    cold, warm = (subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True,
                                 timeout=300, cwd=Path(__file__).resolve().parents[2]) for mode in ("cold", "warm"))
    assert cold.returncode == 0 and warm.returncode == 0, cold.stderr + warm.stderr
    assert "SGD.step" in cold.stdout, cold.stdout  # the detector sees the first use without it
    assert warm.stdout.strip() == "[]", warm.stdout
