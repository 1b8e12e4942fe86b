"""The tamper policy, in one place: what the guard watches and under which names the tests
find modules. The guard receives all of this in its configuration (``guard_policy()``, the
``policy`` entry of ``kernel_config.KernelConfig``); nothing else decides. *How* each
check works is a rule in ``guard.py`` (``guard.RULES``); *which* audit events run which
rules is ``EVENT_RULES`` here.

* ``BASE_WATCH``: modules snapshotted for every assignment (the numerics the tests use,
  otter and doctest, which run them, and what the guard itself relies on), on top of the
  modules each assignment's tests import.
* ``STRICT_ROOTS``: packages where an attribute *added* to any loaded submodule counts
  (otter and doctest, which do the grading); elsewhere only the modules the tests name
  are strict (libraries add to their other submodules lazily).
* ``ALIASES``: conventional names under which tests find modules in the student's namespace.
* ``HOOK_EVENTS``: audit events blocked when student code raises them directly.
* ``PROCESS_EVENTS``: audit events that start a program (with the argument naming it) (``subprocess``, ``os.system``,
  ``os.exec*``, ``os.spawn*``, ``os.posix_spawn``, ``pty.spawn``), blocked when student
  code raises them directly. A library's own processes are not (IPython's ``!cmd`` shell
  escape, matplotlib's font and LaTeX probes, torch's compile workers): running programs
  is the sandbox's business, the guard only stops the submission's own calls.
* ``THIN_WRAPPERS``: modules skipped when deciding who made a call
  (``ctypes.string_at`` -> its caller).
* ``PROCESS_WRAPPERS``: modules skipped, on top of ``THIN_WRAPPERS``, when deciding who
  started a process (``subprocess.run`` -> ``Popen._execute_child`` -> the caller).
* ``EVENT_RULES``: which of the guard's rules run for which audit event (``"ctypes.*"``:
  every event of that prefix).
* ``FRAME_ATTRS``: attributes that lead into the grader's frames.
* ``PROC_SECRETS``: ``/proc`` files that student code may not open (another process's
  environment or memory): ``(prefix, suffixes)``.
* ``PROTOCOL_DUNDERS``: the comparison/conversion/array protocols a student class may not
  override on a value a tested function returns (an object that "equals" anything).
* ``BUILTINS_SKIP``: names IPython itself keeps changing in builtins.
* ``WATCHED_DUNDERS``: special names whose replacement counts (others are bookkeeping).
* ``WARMUPS``: library code the guard runs before its snapshot, for a submission whose
  code mentions one of the triggers: first uses that change a library's own classes and
  globals (so that the student's honest first use is not mistaken for tampering).

What is *not* tampering: a library rebinding a watched name while a library module is
being imported (torch's ``torch.package`` replaces ``inspect.getfile`` when imported), or
while no student code is on the stack (ipykernel's input forwarding).
"""
from __future__ import annotations

BASE_WATCH = ("numpy", "math", "cmath", "builtins", "operator", "functools", "itertools",
              "doctest", "otter", "inspect", "json", "pickle", "copy", "types", "abc",
              "dataclasses", "contextlib", "io", "re", "random", "threading", "traceback",
              "unittest", "hmac", "hashlib", "socket")

STRICT_ROOTS = ("otter", "doctest")

ALIASES = {"np": "numpy", "torch": "torch", "math": "math", "F": "torch.nn.functional",
           "nn": "torch.nn", "pd": "pandas", "plt": "matplotlib.pyplot", "sp": "scipy",
           "scipy": "scipy", "random": "random", "numpy": "numpy"}

HOOK_EVENTS = ("sys.settrace", "sys.setprofile", "sys.addaudithook", "sys._current_frames",
               "gc.get_objects", "gc.get_referrers", "gc.get_referents", "os.kill", "os.killpg",
               "signal.pthread_kill", "sys._getframe", "sys._getframemodulename")

# event -> which of its arguments names the program (shown in the finding)
PROCESS_EVENTS = {"subprocess.Popen": 0, "os.system": 0, "os.exec": 0, "os.spawn": 1, "os.posix_spawn": 0,
                  "pty.spawn": 0}

PROCESS_WRAPPERS = ("subprocess", "os", "pty")

# event -> names of guard.RULES, run in order; the first finding that blocks ends the event
EVENT_RULES = {
    "object.__setattr__": ("rewrite_in_place",),
    "object.__delattr__": ("rewrite_in_place",),
    "object.__getattr__": ("frame_attribute",),
    "open": ("tests_folder_write", "proc_secret_read"),
    "compile": ("library_file_name",),
    "ctypes.*": ("ctypes_call",),
    **{event: ("direct_call",) for event in HOOK_EVENTS},
    **{event: ("process_start",) for event in PROCESS_EVENTS},
}

FRAME_ATTRS = ("tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back")

PROC_SECRETS = ("/proc/", ("/environ", "/mem"))

PROTOCOL_DUNDERS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__",
                    "__array__", "__array_function__", "__array_ufunc__", "__array_interface__",
                    "__torch_function__", "__torch_dispatch__", "__float__", "__int__", "__index__",
                    "__abs__", "__sub__", "__rsub__", "__repr__", "__str__", "__format__",
                    "__getattr__", "__getattribute__", "__len__", "__iter__", "__getitem__")

BUILTINS_SKIP = ("_", "__", "___", "get_ipython", "display", "exit", "quit", "__IPYTHON__",
                 "dreload", "__builtins__", "copyright", "credits", "license", "help")

WATCHED_DUNDERS = ("__eq__", "__ne__", "__call__", "__init__", "__new__", "__getattr__",
                   "__getattribute__", "__bool__", "__array_function__", "__array_ufunc__",
                   "__torch_function__", "__import__")

# (watched root, triggers in the submission's code, code). A first optimizer, torch.compile
# or anything else that imports torch._dynamo rebinds torch.manual_seed, registers
# properties on torch.compiler's CacheInfo and sets module globals; torch.optim wraps each
# optimizer class's ``step`` the first time one is made. About 1 s, so only when needed.
_TORCH_WARMUP = """
import torch, torch._dynamo
_p = torch.nn.Parameter(torch.zeros(1))
for _name in dir(torch.optim):
    _cls = getattr(torch.optim, _name)
    if isinstance(_cls, type) and issubclass(_cls, torch.optim.Optimizer) and _cls is not torch.optim.Optimizer:
        try:
            _cls([_p])
        except Exception:
            pass
"""
WARMUPS = (("torch", ("optim", "compile", "dynamo"), _TORCH_WARMUP),)


def warmups_for(source: str) -> list[list[str]]:
    """``[root, code]`` of each warm-up a submission's code (``source``) calls for."""
    return [[root, code] for root, triggers, code in WARMUPS if any(t in source for t in triggers)]


# Wrapper modules skipped when deciding who made a call (ctypes.string_at -> the caller).
THIN_WRAPPERS = ("ctypes", "inspect", "io", "pathlib", "codecs")


def guard_policy() -> dict:
    """The policy as the guard's configuration carries it (JSON: lists, not tuples)."""
    return {"aliases": dict(ALIASES), "event_rules": {e: list(r) for e, r in EVENT_RULES.items()},
            "frame_attrs": list(FRAME_ATTRS), "builtins_skip": list(BUILTINS_SKIP),
            "watched_dunders": list(WATCHED_DUNDERS), "thin_wrappers": list(THIN_WRAPPERS),
            "process_wrappers": list(PROCESS_WRAPPERS), "process_events": dict(PROCESS_EVENTS), "strict_roots": list(STRICT_ROOTS),
            "proc_secrets": [PROC_SECRETS[0], list(PROC_SECRETS[1])],
            "protocol_dunders": list(PROTOCOL_DUNDERS)}
