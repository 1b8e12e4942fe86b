"""Submissions and helpers for the grading tool's tests.

The fixture assignment ``fixtures/fixhw/fixhw.ipynb`` (an otter-assign master: q1
relu 2 pts and q2 sigmoid 2 pts in numpy, q3 softplus 1 pt in torch) is built with
``otter assign`` once per session into a temporary folder, so these tests do not
depend on the course's assignments. Submissions are its solution notebook with
cells replaced or appended; each case states the row it must get, with totals
worked out by hand from the test points (q1, q2: two cases of 1 point; q3: two of
0.5), never from the tool.
"""
from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MASTER = HERE / "fixtures" / "fixhw" / "fixhw.ipynb"


def tool_env() -> dict:
    from course_tools.processes import subprocess_env
    return subprocess_env(bin_dir=Path(sys.executable).parent)


def run_tool(*args, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_tools", "grade", *map(str, args)],
                          capture_output=True, text=True, env=tool_env(), timeout=timeout, cwd=REPO)


def read_gradebook(path: Path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


# ------------------------------------------------------------------ submissions
WRONG_RELU = "def relu(z):\n    return np.maximum(np.round(z), 0)\n"        # public passes, hidden fails
WRONG_SIGMOID = "def sigmoid(z):\n    return np.zeros_like(np.asarray(z, dtype=float))\n"  # both fail
WRONG_SOFTPLUS = "def softplus_t(z):\n    return z\n"                              # both fail


def notebook(sol: Path, replace: dict[str, str] | None = None, append: list[str] = (),
             meta: dict | None = None) -> nbformat.NotebookNode:
    """The solution notebook with the cell defining ``name`` replaced and cells appended."""
    nb = nbformat.read(sol, as_version=4)
    for name, src in (replace or {}).items():
        hits = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(f"def {name}(")]
        assert len(hits) == 1, name
        hits[0].source = src
    for src in append:
        nb.cells.append(nbformat.v4.new_code_cell(src))
    for k, v in (meta or {}).items():
        nb.metadata[k] = v
    return nb


@dataclass
class Case:
    name: str               # file name in the batch folder
    status: str
    total: float | None     # None: not checked (error/timeout/invalid rows have 0)
    says: list[str] = field(default_factory=list)   # substrings of the message
    scores: dict[str, float] | None = None


def build_cases(sol: Path, folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def nb(name, case, **kw):
        nbformat.write(notebook(sol, **kw), folder / name)
        cases.append(case)

    def raw(name, data: bytes, case):
        (folder / name).write_bytes(data)
        cases.append(case)

    def zipped(name, members: dict[str, bytes], case):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for n, d in members.items():
                z.writestr(n, d)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(buf.getvalue())
        cases.append(case)

    good = nbformat.writes(notebook(sol)).encode()
    julia = notebook(sol, meta={"kernelspec": {"name": "julia-1.9", "display_name": "Julia",
                                               "language": "julia"}})
    # --- correct and partially correct
    nb("good.ipynb", Case("good.ipynb", "graded", 5.0, ["all tests passed"],
                          {"q1": 2, "q2": 2, "q3": 1}))
    # relu: public case passes, hidden fails (1 of 2); sigmoid and softplus: both fail
    nb("partial.ipynb", Case("partial.ipynb", "graded", 1.0, ["q1 1/2", "q2 0/2", "q3 0/1"],
                             {"q1": 1, "q2": 0, "q3": 0}),
       replace={"relu": WRONG_RELU, "sigmoid": WRONG_SIGMOID, "softplus_t": WRONG_SOFTPLUS})
    # what grader.export() makes: the notebook plus other files (here: an unknown kernel too)
    zipped("nested/alice_export.zip", {"fixhw.ipynb": nbformat.writes(julia).encode(),
                                       "data/notes.txt": b"my notes", ".OTTER_LOG": b"\x80garbage"},
           Case("nested/alice_export.zip", "graded", 5.0,
                ["from zip", "'julia-1.9' replaced by the course's python3"]))
    # --- broken files
    raw("notjson.ipynb", b"this is { not json", Case("notjson.ipynb", "invalid", 0, ["not valid JSON"]))
    raw("empty.ipynb", b"", Case("empty.ipynb", "invalid", 0, ["empty file"]))
    raw("blank.ipynb", b"   \n", Case("blank.ipynb", "invalid", 0, ["empty file"]))
    raw("notnb.ipynb", b'{"hello": [1, 2]}', Case("notnb.ipynb", "invalid", 0, ["without a list of cells"]))
    raw("binary.ipynb", bytes(range(256)) * 4, Case("binary.ipynb", "invalid", 0, ["not UTF-8"]))
    raw("badzip.zip", b"PK\x03\x04 truncated", Case("badzip.zip", "invalid", 0, ["not a zip"]))
    zipped("nonb.zip", {"answers.txt": b"42"}, Case("nonb.zip", "invalid", 0, ["no notebook"]))
    zipped("twonb.zip", {"a.ipynb": good, "b.ipynb": good}, Case("twonb.zip", "invalid", 0, ["2 notebooks"]))
    zipped("escape.zip", {"fixhw.ipynb": good, "../../evil.py": b"x"},
           Case("escape.zip", "invalid", 0, ["unsafe path"]))
    other = notebook(sol)
    other.metadata["otter"] = {"assignment_name": "hw9"}
    nbformat.write(other, folder / "other.ipynb")
    cases.append(Case("other.ipynb", "invalid", 0, ["assignment 'hw9', not 'fixhw'"]))
    # --- student code that misbehaves
    # a top-level exception in the cell defining sigmoid; softplus left as `...` (the template)
    nb("exception.ipynb", Case("exception.ipynb", "graded", 2.0, ["ZeroDivisionError", "q2 0/2", "q3 0/1"],
                               {"q1": 2, "q2": 0, "q3": 0}),
       replace={"sigmoid": "1 / 0\n" + "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n",
                "softplus_t": "def softplus_t(z):\n    ...\n"})
    nb("sysexit.ipynb", Case("sysexit.ipynb", "graded", 3.0, ["q1 0/2"], {"q1": 0}),
       replace={"relu": "import sys\ndef relu(z):\n    sys.exit('bye')\n"})
    nb("osexit.ipynb", Case("osexit.ipynb", "error", 0, ["kernel died"]),
       append=["import os\nos._exit(3)"])
    # 320 MiB of output, then an allocation of 64 GiB: both survive the caps
    nb("resources.ipynb", Case("resources.ipynb", "graded", 5.0, ["output flood", "MemoryError",
                                                                    "ran out of memory"]),
       append=["chunk = 'x' * 2**20\nfor _ in range(320):\n    print(chunk, flush=True)",
               "big = np.ones(2**33)"])
    # --- tampering: each must be flagged, and earn nothing from what it tampered with
    nb("t_numpy.ipynb", Case("t_numpy.ipynb", "flagged", 3.0,
                             ["assigned numpy.allclose", "replaced numpy.allclose",
                              "rewrote assert_allclose.__code__"], {"q2": 0}),
       replace={"sigmoid": WRONG_SIGMOID},
       append=["np.allclose = lambda *a, **k: True",
               "vars(np)['allclose'] = lambda *a, **k: True",
               "np.testing.assert_allclose.__code__ = (lambda *a, **k: None).__code__"])
    nb("t_testing.ipynb", Case("t_testing.ipynb", "flagged", 4.0, ["numpy.testing.assert_allclose"], {"q1": 1}),
       replace={"relu": WRONG_RELU},
       append=["from unittest import mock\n"
               "mock.patch.object(np.testing, 'assert_allclose', lambda *a, **k: None).start()"])
    nb("t_torch.ipynb", Case("t_torch.ipynb", "flagged", 4.0,
                             ["torch.allclose", "torch.testing.assert_close", "torch.Tensor.allclose"], {"q3": 0}),
       replace={"softplus_t": WRONG_SOFTPLUS},
       append=["torch.testing.assert_close = lambda *a, **k: None",
               "torch.allclose = lambda *a, **k: True",
               "torch.Tensor.allclose = lambda *a, **k: True"])
    nb("t_builtins.ipynb", Case("t_builtins.ipynb", "flagged", 3.0, ["builtins.abs", "builtins.sum"], {"q2": 0}),
       replace={"sigmoid": WRONG_SIGMOID},
       append=["import builtins\nbuiltins.abs = lambda x: 0.0",
               "builtins.__dict__['sum'] = lambda *a, **k: 99"])
    nb("t_otter.ipynb", Case("t_otter.ipynb", "flagged", 0.0, ["OKTestFile.run", "TestFile.score",
                                                                 "DocTestRunner.run"]),
       replace={"relu": "def relu(z):\n    return z\n", "sigmoid": WRONG_SIGMOID, "softplus_t": WRONG_SOFTPLUS},
       append=["import otter.test_files.ok_test as ok, otter.test_files.abstract_test as at\n"
               "def run(self, env):\n"
               "    self.test_case_results = [at.TestCaseResult(tc, 'ok', True) for tc in self.test_cases]\n"
               "ok.OKTestFile.run = run",
               "at.TestFile.score = property(lambda self: self.possible)",
               "import doctest\ndoctest.DocTestRunner.run = lambda self, *a, **k: doctest.TestResults(0, 1)",
               "import otter.test_files\notter.test_files.GradingResults.total = property(lambda s: 5)"])
    # the module names the tests use, rebound to look-alikes before the checks run
    nb("t_namespace.ipynb", Case("t_namespace.ipynb", "flagged", 1.0, ["'np'"], {"q1": 0, "q2": 0, "q3": 1}),
       replace={"relu": "import types, numpy as _np\n"
                        "np = types.SimpleNamespace(allclose=lambda *a, **k: True, linspace=_np.linspace,\n"
                        "    array=_np.array, where=_np.where, float32=_np.float32,\n"
                        "    testing=types.SimpleNamespace(assert_allclose=lambda *a, **k: None))\n"
                        "def relu(z):\n    return _np.maximum(_np.round(z), 0)\n",
                "sigmoid": "def sigmoid(z):\n    return _np.zeros_like(_np.asarray(z, dtype=float))\n"})
    # tampering from inside the tested functions, while their tests run
    nb("t_during.ipynb", Case("t_during.ipynb", "flagged", 1.0, ["replaced numpy.allclose (while its tests ran)",
                                                                 "assigned numpy.testing.assert_allclose",
                                                                 "returned an object of class Liar"],
                              {"q1": 0, "q2": 0, "q3": 1}),
       replace={"relu": "def relu(z):\n"
                        "    vars(np)['allclose'] = lambda *a, **k: True\n"
                        "    np.testing.assert_allclose = lambda *a, **k: None\n"
                        "    return np.round(z)\n",
                "sigmoid": "class Liar(np.ndarray):\n"
                           "    def __array_function__(self, func, types, args, kwargs):\n"
                           "        return True\n"
                           "    def __eq__(self, other):\n        return True\n"
                           "def sigmoid(z):\n    return np.asarray(z, dtype=float).view(Liar)\n"})
    # reading the tests' expected values out of their frames
    nb("t_frames.ipynb", Case("t_frames.ipynb", "flagged", 1.0, ["sys._getframe", "tb_frame"],
                              {"q1": 0, "q2": 0}),
       replace={"sigmoid": "import sys\n"
                           "def sigmoid(z):\n"
                           "    f = sys._getframe(1)\n"
                           "    return f.f_locals.get('expected', np.zeros(1))\n",
                "relu": "def relu(z):\n"
                        "    try:\n        raise ValueError\n"
                        "    except ValueError as e:\n        f = e.__traceback__.tb_frame.f_back\n"
                        "    return np.zeros(1)\n"})
    nb("t_escape.ipynb", Case("t_escape.ipynb", "flagged", 3.0, ["tests folder", "ctypes", "gc.get_objects",
                                                                 "sys.settrace"], {"q1": 0}),
       replace={"relu": "def relu(z):\n    return z\n"},
       append=["open('tests/q1.py', 'w').write('OK_FORMAT = True\\ntest = {\"name\": \"q1\", \"points\": 2, "
               "\"suites\": [{\"cases\": [{\"code\": \">>> True\\\\nTrue\", \"hidden\": False}], "
               "\"type\": \"doctest\"}]}\\n')",
               "import ctypes\nctypes.string_at(id(np.allclose), 8)",
               "import gc\nguards = [o for o in gc.get_objects() if callable(o)]",
               "import sys\nsys.settrace(lambda *a: None)"])
    # a background thread, started before the first check, that keeps patching: every
    # question ran under it, so none scores
    nb("t_thread.ipynb", Case("t_thread.ipynb", "flagged", 0.0, ["numpy.allclose", "while its tests ran"]),
       replace={"sigmoid": WRONG_SIGMOID,
                "relu": "import threading, time\n"
                        "fake = lambda *a, **k: True\n"
                        "def keep():\n"
                        "    while True:\n"
                        "        vars(np)['allclose'] = fake\n"
                        "        time.sleep(0.001)\n"
                        "threading.Thread(target=keep, daemon=True).start()\ntime.sleep(0.1)\n"
                        "def relu(z):\n    return np.maximum(z, 0).astype(np.asarray(z).dtype)\n"})
    # asking the guard to grade early, then tampering
    nb("t_finish.ipynb", Case("t_finish.ipynb", "flagged", 3.0, ["finish"], {"q2": 0}),
       replace={"sigmoid": WRONG_SIGMOID},
       append=["import sys\nsys.audit('acgrade.finish', 'a-guess')\nnp.allclose = None"])
    # programs started by the student's own code (a shell could rewrite the tests, or kill
    # the grader): blocked and reported at the call; the rest of the grade stands
    nb("t_subprocess.ipynb", Case("t_subprocess.ipynb", "flagged", 4.0,
                                  ["started a process (subprocess.Popen: sh)"], {"q1": 1}),
       replace={"relu": WRONG_RELU},
       append=["import subprocess\nsubprocess.run(['sh', '-c', 'cat tests/q1.py > /dev/null'], check=True)"])
    nb("t_system.ipynb", Case("t_system.ipynb", "flagged", 5.0, ["started a process (os.system: echo)"]),
       append=["import os\nos.system('echo pwned > tests/q3.py')"])
    # the guard's own objects, reached from what student code can see (Checker.check, the
    # watched modules' class): no closure leads to its state or its signing key, and what
    # their globals hold is checked (a forged "final" report used to score 5/5 this way)
    nb("t_closure.ipynb", Case("t_closure.ipynb", "flagged", 3.0, ["replaced the grader's _audit"], {"q2": 0}),
       replace={"sigmoid": WRONG_SIGMOID},
       append=["import otter.execute as oe\n"
               "fn = oe.Checker.__dict__['check'].__func__\n"
               "cells = [*(fn.__closure__ or ()), *(type(np).__setattr__.__closure__ or ())]\n"
               "found = [c.cell_contents for c in cells]\n"
               "emit = [f for f in found if getattr(f, '__name__', '') in ('emit', 'violation')]\n"
               "assert not emit, emit\n"
               "fn.__globals__['_audit'] = lambda *a: None"])
    # a zip shipping numpy.py next to the notebook (it would shadow numpy)
    zipped("t_shadow.zip", {"fixhw.ipynb": good,
                            "numpy.py": b"allclose = lambda *a, **k: True\n"},
           Case("t_shadow.zip", "flagged", 5.0, ["numpy.py"]))
    return cases


