"""The guard's rules and stack tests (``guard.RULES``, ``direct_student``...), the return-
value check, the scoring of a question and the configuration, each on made-up frames,
objects and policies: no kernel, no otter run.

A fake frame is what the rules read of a real one: ``f_code`` (``co_filename``,
``co_name``), ``f_back`` and ``f_globals['__name__']``. Library files are those under
``LIB``; a student cell's file is anything else (IPython names them
``/tmp/ipykernel_<pid>/<hash>.py``)."""
from __future__ import annotations

import ast
import json
import socket
import types

import pytest

from course_tools.grading import guard, kernel_config, policy

LIB = "/env/lib/python3.11/"
CELL = "/tmp/ipykernel_7/123.py"
TESTS = "/nonexistent-acgrade/submission/tests"


class Code:
    def __init__(self, filename, name="f"):
        self.co_filename, self.co_name = filename, name


class Frame:
    def __init__(self, filename, module, back=None, name="f", code=None):
        self.f_code = code or Code(filename, name)
        self.f_back = back
        self.f_globals = {"__name__": module}


def stack(*frames):
    """The innermost frame of a stack given outermost first, as (file, module[, code name])."""
    f = None
    for spec in frames:
        file, module, *name = spec
        f = Frame(file, module, back=f, name=name[0] if name else "f")
    return f


def lib(path):
    return LIB + path


STUDENT = (CELL, "__main__")
IPYTHON = (lib("IPython/core/interactiveshell.py"), "IPython.core.interactiveshell")


@pytest.fixture
def ctx():
    return guard.make_context(policy.guard_policy(), (LIB,), TESTS, modules={})


def run(rule_name, event, args, frame, ctx):
    return guard.RULES[rule_name](event, args, frame, ctx)


# ------------------------------------------------------------------ the stack tests
def test_library_files(ctx):
    assert guard.is_library_file(lib("numpy/core/numeric.py"), ctx)
    assert guard.is_library_file("<frozen importlib._bootstrap>", ctx)
    assert guard.is_library_file("<doctest q1 0>", ctx)
    assert not guard.is_library_file(CELL, ctx) and not guard.is_library_file(None, ctx)


def test_student_on_stack_stops_at_the_graders_own_code(ctx):
    f = stack(STUDENT, (lib("numpy/testing/utils.py"), "numpy.testing"))
    assert guard.student_on_stack(f, ctx)
    assert not guard.student_on_stack(stack((lib("numpy/x.py"), "numpy")), ctx)
    runner = stack(STUDENT, ("/grader/acgrade_guard.py", "_acgrade_guard"), (lib("numpy/x.py"), "numpy"))
    ctx.grader_codes.add(runner.f_back.f_code)
    assert not guard.student_on_stack(runner, ctx)  # the cells above the guard's runner do not count


def test_direct_student_looks_through_thin_wrappers_only(ctx):
    via_ctypes = stack(STUDENT, (lib("ctypes/__init__.py"), "ctypes"))
    assert guard.direct_student(via_ctypes, ctx)
    via_numpy = stack(STUDENT, (lib("numpy/x.py"), "numpy"))
    assert not guard.direct_student(via_numpy, ctx)
    assert guard.direct_student(stack(STUDENT), ctx)
    via_subprocess = stack(STUDENT, (lib("subprocess.py"), "subprocess"))
    assert not guard.direct_student(via_subprocess, ctx)  # not a thin wrapper for every rule...
    assert guard.direct_student(via_subprocess, ctx, ctx.process_thin)  # ...only for processes


def test_a_module_named_like_a_wrapper_outside_the_libraries_is_not_skipped(ctx):
    fake = stack((lib("numpy/x.py"), "numpy"), (CELL, "ctypes"))  # student file claiming to be ctypes
    assert guard.direct_student(fake, ctx)


def test_library_import(ctx):
    importing = stack(STUDENT, (lib("torch/__init__.py"), "torch", "<module>"), (lib("torch/package/x.py"), "torch"))
    assert guard.library_import(importing, ctx)
    assert not guard.library_import(stack(STUDENT, (lib("torch/x.py"), "torch")), ctx)


# --------------------------------------------------------------------------- rules
def test_every_policy_event_runs_known_rules_and_prefixes_match():
    lookup = guard.rule_lookup(policy.guard_policy()["event_rules"])
    for event, names in policy.EVENT_RULES.items():
        probe = event[:-1] + "dlopen" if event.endswith(".*") else event
        assert lookup(probe) == tuple(guard.RULES[n] for n in names), event
    assert lookup("ctypes.call_function")[0] is guard.ctypes_call
    assert lookup("builtins.id") is None and lookup("acgrade.finish") is None and lookup("ctypesx") is None
    with pytest.raises(KeyError):
        guard.rule_lookup({"open": ["no_such_rule"]})


def test_the_table_is_resolved_when_built():
    rules = dict(guard.RULES)
    lookup = guard.rule_lookup({"open": ["proc_secret_read"]}, rules)
    rules["proc_secret_read"] = lambda *a: ("fake", True)
    assert lookup("open") == (guard.proc_secret_read,)


def test_rewrite_in_place_of_a_watched_object(ctx):
    def target():
        pass
    ctx.watched_ids.add(id(target))
    assert run("rewrite_in_place", "object.__setattr__", (target, "__code__", None), stack(STUDENT), ctx) == \
        ("rewrote target.__code__ in place", True)
    assert run("rewrite_in_place", "object.__setattr__", (len, "__code__", None), stack(STUDENT), ctx) is None
    importing = stack(STUDENT, (lib("torch/__init__.py"), "torch", "<module>"))
    assert run("rewrite_in_place", "object.__setattr__", (target, "__code__", None), importing, ctx) is None
    assert run("rewrite_in_place", "object.__delattr__", (target, "__defaults__"), stack((lib("a.py"), "a")), ctx) is None


def test_frame_attributes(ctx):
    assert run("frame_attribute", "object.__getattr__", (None, "tb_frame"), stack(STUDENT), ctx) == \
        ("read .tb_frame (a way into the grader's frames)", True)
    assert run("frame_attribute", "object.__getattr__", (None, "__code__"), stack(STUDENT), ctx) is None
    assert run("frame_attribute", "object.__getattr__", (None, "f_back"), stack((lib("traceback.py"), "traceback")),
               ctx) is None


@pytest.mark.parametrize("event", policy.HOOK_EVENTS)
def test_direct_calls(ctx, event):
    assert run("direct_call", event, (), stack(STUDENT), ctx) == (f"called {event}", True)
    assert run("direct_call", event, (), stack(STUDENT, (lib("pdb.py"), "pdb")), ctx) is None


def test_ctypes(ctx):
    through_wrapper = stack(STUDENT, (lib("ctypes/__init__.py"), "ctypes"))
    assert run("ctypes_call", "ctypes.string_at", (1, 8), through_wrapper, ctx) == \
        ("used ctypes (ctypes.string_at)", True)
    assert run("ctypes_call", "ctypes.dlopen", ("libc",), stack(STUDENT, (lib("torch/x.py"), "torch")), ctx) is None


def test_writes_into_the_tests_folder(ctx):
    below = stack(STUDENT, (lib("pathlib.py"), "pathlib"))
    assert run("tests_folder_write", "open", (TESTS + "/q1.py", "w", 0), below, ctx) == \
        ("wrote into the tests folder (q1.py)", True)
    import os
    assert run("tests_folder_write", "open", (TESTS + "/q1.py", None, os.O_RDWR), stack(STUDENT), ctx)
    assert run("tests_folder_write", "open", (TESTS + "/q1.py", "r", 0), stack(STUDENT), ctx) is None
    assert run("tests_folder_write", "open", ("/nonexistent-acgrade/out.txt", "w", 0), stack(STUDENT), ctx) is None
    assert run("tests_folder_write", "open", (TESTS + "/q1.py", "w", 0), stack((lib("a.py"), "a")), ctx) is None
    assert run("tests_folder_write", "open", (3, "w", 0), stack(STUDENT), ctx) is None  # a descriptor


def test_reading_another_process_environment_or_memory(ctx):
    assert run("proc_secret_read", "open", ("/proc/1/environ", "r", 0), stack(STUDENT), ctx) == \
        ("read /proc/1/environ", True)
    assert run("proc_secret_read", "open", ("/proc/1/mem", "rb", 0), stack(STUDENT), ctx)[1] is True
    assert run("proc_secret_read", "open", ("/proc/1/status", "r", 0), stack(STUDENT), ctx) is None
    assert run("proc_secret_read", "open", ("/proc/1/environ", "r", 0), stack((lib("psutil/x.py"), "psutil")),
               ctx) is None


def test_code_compiled_under_a_library_file_name(ctx):
    assert run("library_file_name", "compile", (b"x", lib("numpy/x.py").encode()), stack(STUDENT), ctx) == \
        (f"compiled code under a library's file name ({lib('numpy/x.py')})", True)
    assert run("library_file_name", "compile", ("x", "<string>"), stack(STUDENT), ctx) is None
    assert run("library_file_name", "compile", ("x", lib("numpy/x.py")), stack((lib("a.py"), "a")), ctx) is None


# -------------------------------------------------- the new defence: starting programs
SUBPROCESS = [(lib("subprocess.py"), "subprocess", "run"), (lib("subprocess.py"), "subprocess", "__init__"),
              (lib("subprocess.py"), "subprocess", "_execute_child")]


@pytest.mark.parametrize("event, args, shown", [
    ("subprocess.Popen", ("kill", ["kill", "-9", "1"], None, None), "kill"),
    ("subprocess.Popen", (b"/bin/sh", [b"/bin/sh", b"-c", b"b | b"], None, None), "sh"),
    ("os.system", (b"  /usr/bin/pkill -9 make",), "pkill"),
    ("os.exec", ("/usr/bin/sleep", ["sleep", "9"], None), "sleep"),
    ("os.spawn", (0, "/bin/true", ["true"], None), "true"),
    ("os.posix_spawn", ("/bin/true", ["true"], {}), "true"),
    ("pty.spawn", (["bash"],), "bash"),
])
def test_a_program_started_by_student_code_is_blocked(ctx, event, args, shown):
    frames = {"subprocess.Popen": SUBPROCESS, "os.exec": [(lib("os.py"), "os", "execvp"), (lib("os.py"), "os", "_execvpe")],
              "pty.spawn": [(lib("pty.py"), "pty", "spawn")]}.get(event, [])
    assert run("process_start", event, args, stack(STUDENT, *frames), ctx) == \
        (f"started a process ({event}: {shown})", True)


def test_a_process_with_no_program_named_is_still_blocked(ctx):
    assert run("process_start", "os.system", ("   ",), stack(STUDENT), ctx) == ("started a process (os.system)", True)
    assert run("process_start", "os.exec", (), stack(STUDENT), ctx) == ("started a process (os.exec)", True)


@pytest.mark.parametrize("library", [
    [IPYTHON, (lib("IPython/utils/_process_posix.py"), "IPython.utils._process_posix")],  # !cmd
    [(lib("matplotlib/font_manager.py"), "matplotlib.font_manager")],
    [(lib("torch/_inductor/codecache.py"), "torch._inductor.codecache")],
])
def test_a_librarys_own_processes_pass(ctx, library):
    """IPython's shell escape, matplotlib's font and LaTeX probes, torch's compile workers."""
    f = stack(STUDENT, *library, *SUBPROCESS)
    assert run("process_start", "subprocess.Popen", ("sh", ["sh", "-c", "echo hi"], None, None), f, ctx) is None
    assert run("process_start", "os.system", ("echo hi",), stack(STUDENT, *library), ctx) is None
    child = stack((lib("ptyprocess/ptyprocess.py"), "ptyprocess.ptyprocess", "spawn"))  # after pty.fork
    assert run("process_start", "os.exec", ("/bin/sh", ["sh"], None), child, ctx) is None


def test_the_process_rule_never_calls_student_code(ctx):
    class Sneaky:
        def __repr__(self):
            raise AssertionError("student code ran inside the hook")
        __str__ = __fspath__ = __repr__
    assert run("process_start", "subprocess.Popen", (Sneaky(), [Sneaky()], None, None), stack(STUDENT, *SUBPROCESS),
               ctx) == ("started a process (subprocess.Popen)", True)


# ------------------------------------------------------ names and return values
def test_namespace_names_must_be_the_installed_modules(ctx):
    real = types.ModuleType("numpy")
    real.__file__ = lib("numpy/__init__.py")
    ctx.modules["numpy"] = real
    fake = types.ModuleType("numpy")
    aliases = policy.ALIASES
    assert guard.namespace_findings(["np"], {"np": real}, aliases, ctx) == []
    assert guard.namespace_findings(["np"], {"np": fake}, aliases, ctx) == \
        ["the name 'np' is bound to a look-alike of module 'numpy'"]
    assert guard.namespace_findings(["np"], {"np": types.SimpleNamespace()}, aliases, ctx) == \
        ["the name 'np' (module 'numpy' in the tests) is bound to a SimpleNamespace"]
    assert guard.namespace_findings(["np"], {}, aliases, ctx) == []


def test_deceptive_return_values(ctx):
    class Liar(float):
        def __eq__(self, other):
            return True
    Liar.__module__, Liar.__qualname__ = "__main__", "Liar"
    ctx.modules["__main__"] = types.ModuleType("__main__")

    class Honest(float):
        pass
    Honest.__module__ = "__main__"

    class LibraryScalar(float):  # a library's class with its own (library) comparison
        __eq__ = float.__eq__
    library = types.ModuleType("somelib")
    library.__file__ = lib("somelib/__init__.py")
    ctx.modules["somelib"] = library
    LibraryScalar.__module__ = "somelib"
    assert guard.deceptive(LibraryScalar(1.0), ctx) is None
    assert guard.deceptive(Liar(1.0), ctx) == "Liar"
    assert guard.deceptive([1, (2, {"k": Liar(0.0)})], ctx) == "Liar"
    assert guard.deceptive([[[[[Liar(0.0)]]]]], ctx) is None  # deeper than 3 levels: not looked at
    assert guard.deceptive(Honest(1.0), ctx) is None and guard.deceptive(3.0, ctx) is None
    assert set(ctx.protocol) == set(policy.PROTOCOL_DUNDERS) and "__eq__" in ctx.protocol


# ------------------------------------------------------------------- scoring
class FakeTest:
    def __init__(self, name, results):
        self.name, self.test_case_results = name, results


def result(name, passed, points=1.0, hidden=False, message=""):
    return types.SimpleNamespace(test_case=types.SimpleNamespace(name=name, hidden=hidden, points=points),
                                 passed=passed, message=message)


SCORING = (lambda tf: sum(r.test_case.points for r in tf.test_case_results if r.passed),
           lambda tf: sum(r.test_case.points for r in tf.test_case_results),
           lambda tf: f"{tf.name} summary")


def test_a_question_is_scored_as_otter_scores_it():
    tf = FakeTest("q1", [result("q1 - 1", True), result("q1 - 2", False, hidden=True, message="wrong")])
    got = guard.question_result(tf, "check cell", None, [], SCORING)
    assert got == {"name": "q1", "score": 1.0, "possible": 2.0, "summary": "q1 summary", "graded_at": "check cell",
                   "violations": [], "cases": [
                       {"name": "q1 - 1", "hidden": False, "points": 1.0, "passed": True, "message": ""},
                       {"name": "q1 - 2", "hidden": True, "points": 1.0, "passed": False, "message": "wrong"}]}


def test_scoring_reports_violations_and_interruptions_without_zeroing_itself():
    tf = FakeTest("q2", [result("q2 - 1", True)])
    got = guard.question_result(tf, "end of notebook", None, ["replaced numpy.allclose"], SCORING)
    assert got["score"] == 1.0 and got["violations"] == ["replaced numpy.allclose"]  # the verdict zeroes it
    got = guard.question_result(tf, "end of notebook", "SystemExit: bye", [], SCORING)
    assert got["score"] == 0.0 and got["summary"] == "the tests were interrupted by SystemExit: bye"
    broken = (lambda tf: 1 / 0, SCORING[1], SCORING[2])
    assert guard.question_result(tf, "x", None, [], broken)["summary"].startswith("could not score")


# ------------------------------------------------------------- configuration
def test_the_guard_reads_exactly_the_kernel_config_fields():
    assert guard.CONFIG_KEYS == kernel_config.FIELDS
    tree = ast.parse(open(guard.__file__).read())
    used = {n.slice.value for n in ast.walk(tree) if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name)
            and n.value.id == "cfg" and isinstance(n.slice, ast.Constant)}
    assert used and used <= set(kernel_config.FIELDS), used - set(kernel_config.FIELDS)
    assert not {"key", "nonce"} & set(guard.Context.__slots__)


def test_read_config_from_the_channel():
    cfg = kernel_config.KernelConfig(key="ab" * 32, nonce="n", tests_dir="/t", tests=["/t/q1.py"],
                                     submission_dir="/s", watch=["numpy"], policy=policy.guard_policy())
    a, b = socket.socketpair()
    with a, b:
        a.sendall(json.dumps(cfg.to_json()).encode() + b"\n")
        assert guard.read_config(b) == json.loads(json.dumps(cfg.to_json()))
        a.sendall(b'{"key": "00"}\n')
        with pytest.raises(ValueError, match="lacks"):
            guard.read_config(b)


def test_what_the_guard_watches_is_the_policys():
    """No event name, /proc path or strict package is written in the guard itself."""
    tree = ast.parse(open(guard.__file__).read())
    consts = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    watched = set(policy.EVENT_RULES) | set(policy.STRICT_ROOTS) | {policy.PROC_SECRETS[0], *policy.PROC_SECRETS[1]}
    assert not consts & watched, consts & watched
    json.dumps(policy.guard_policy())


# --------------------------------------------------------------- entry points
def test_entry_points_hold_nothing_and_only_raise_the_guards_events():
    """What student code can reach (``Checker.check``, the watched modules' class, the
    wrappers of tested functions) has no closure over the guard and raises one event each."""
    seen = []
    ns = {"__builtins__": {"__build_class__": __build_class__}, "__name__": "acgrade_guard",
          "_audit": lambda *a: seen.append(a), "_getframe": __import__("sys")._getframe,
          "_ModuleType": types.ModuleType, "_mod_setattr": types.ModuleType.__setattr__,
          "_mod_delattr": types.ModuleType.__delattr__}
    exec(compile(guard._ENTRY_POINTS, guard.__file__, "exec"), ns)
    mod = types.ModuleType("m")
    mod.__class__ = ns["GuardedModule"]
    mod.x = 1
    del mod.x
    assert ns["checking"](abs)(-2) == 2
    assert ns["check"](object, "tests/q1.py", None, None, {"a": 1}) is None  # no hook: no answer
    assert [a[0] for a in seen] == ["acgrade.setattr", "acgrade.delattr", "acgrade.returned", "acgrade.check"]
    for fn in (ns["check"], ns["GuardedModule"].__setattr__, ns["GuardedModule"].__delattr__, ns["checking"]):
        assert fn.__closure__ is None
    assert ns["checking"](abs).__closure__[0].cell_contents is abs  # only the student's own function
