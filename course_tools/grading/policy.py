"""The tamper policy, in one place: what the guard watches and under which names the tests
find modules. The guard receives all of this in its configuration; nothing else decides.

* ``BASE_WATCH``: modules snapshotted for every assignment (the numerics the tests use,
  otter and doctest, which run them, and what the guard itself relies on), on top of the
  modules each assignment's tests import.
* ``ALIASES``: conventional names under which tests find modules in the student's namespace.
* ``HOOK_EVENTS``: audit events blocked when student code raises them directly.
* ``FRAME_ATTRS``: attributes that lead into the grader's frames.
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

ALIASES = {"np": "numpy", "torch": "torch", "math": "math", "F": "torch.nn.functional",
           "nn": "torch.nn", "pd": "pandas", "plt": "matplotlib.pyplot", "sp": "scipy",
           "scipy": "scipy", "random": "random", "numpy": "numpy"}

HOOK_EVENTS = ("sys.settrace", "sys.setprofile", "sys.addaudithook", "sys._current_frames",
               "gc.get_objects", "gc.get_referrers", "gc.get_referents", "os.kill", "os.killpg",
               "signal.pthread_kill", "sys._getframe", "sys._getframemodulename")

FRAME_ATTRS = ("tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back")

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
    """The policy as the guard's configuration carries it."""
    return {"aliases": dict(ALIASES), "hook_events": list(HOOK_EVENTS),
            "frame_attrs": list(FRAME_ATTRS), "builtins_skip": list(BUILTINS_SKIP),
            "watched_dunders": list(WATCHED_DUNDERS), "thin_wrappers": list(THIN_WRAPPERS)}
