"""The grader's guard: runs inside the student's kernel, before any student cell.

otter runs the tests inside the kernel that executed the student's code, so that
code can rewrite whatever the tests rely on (``np.allclose``, ``torch.testing``,
builtins, otter's own test classes, ``sys.modules``...). Defending one example at
a time is hopeless; the guard defends the mechanism instead:

1. **Snapshot, diff, restore.** Before student code runs it records, by identity,
   the attribute tables of every module the tests can reach (the modules the test
   files import, their loaded submodules, otter, doctest, builtins and a base set),
   the callable entries of every mutable class defined there, the code objects and
   defaults of every Python function there, and the ``sys.modules`` entries. When
   grading starts it diffs against the snapshot (anything replaced, deleted or
   added is tampering), restores the originals and only then runs the tests; it
   diffs again after each question, so a patch made *while* a question runs taints
   that question.
2. **An audit hook** (``sys.addaudithook``; hooks cannot be removed) blocks and
   reports, at the moment they happen, the operations that rewrite code in place
   or reach the grader's frames: ``__code__``/``__defaults__``/``__class__``
   assignment on watched objects, ``sys.settrace``/``setprofile``, frame access
   (``sys._getframe``, ``tb_frame``...), ``gc`` referrer walks, ``ctypes``,
   ``os.kill``, writes into the tests folder, code compiled under a library's file
   name. Watched modules also get a module class whose ``__setattr__`` blocks
   assignment from student code.
3. **The tests run from the guard**, when and where otter (and Gradescope) would run
   them: otter's ``Checker.check`` is replaced by the guard's, so a question is graded
   at its ``grader.check`` cell against the namespace of that moment (the last check
   of a question counts) and a question never checked is graded at the end, as
   otter's export cell does. Test files are parsed before any student code runs (the
   copies on disk do not matter), each run uses a copy of the namespace (the test's
   own variables never become visible to student functions), and top-level student
   functions are wrapped so that a return value whose class comes from the
   submission and overrides comparison/array protocols (an object that "equals"
   anything) is caught.
4. **The verdict leaves the kernel on an authenticated channel**: one end of a socket
   pair the kernel inherits from the grading tool (no address: nothing can connect to
   it), read before student code runs for this configuration (the key never touches a
   file), every message HMAC-signed with a key that exists only in the
   hook's closure and numbered in sequence. Violations are sent the moment they
   are seen, so later student code cannot take them back; a forged, reordered or
   missing message is itself a finding for the tool.

Nothing here is reachable from student code: the kernel loads this file with
``runpy.run_path`` (it is not in ``sys.modules``), the state lives in closures of the
hook, the module's helpers use builtins bound when the file is loaded, and the
configuration arrives on the channel (no file holds it). ``take_snapshot``/``diff``/``restore`` are plain functions
of a module table so that they can be unit-tested outside a kernel. The file needs
only the standard library and otter: it runs in the grading environment, where the
course's packages are not installed. This is a tamper *detector* for honest-but-tempted students;
isolation from the machine is the sandbox's job (``bwrap``: the kernel runs in bubblewrap).
"""


# Pristine builtins, bound when the file is loaded (before any student code): the helpers
# below look these up in this module's globals, never in (patchable) builtins.
_type, _id, _len, _str, _isinstance, _issubclass = type, id, len, str, isinstance, issubclass
_callable, _getattr, _hasattr, _sorted, _repr = callable, getattr, hasattr, sorted, repr
_dict, _list, _tuple, _set, _object, _any = dict, list, tuple, set, object, any
_BaseException, _PermissionError, _float, _bool, _int = BaseException, PermissionError, float, bool, int
_property, _classmethod, _staticmethod = property, classmethod, staticmethod

MISSING = _object()


# ------------------------------------------------------------ snapshot, diff, restore
def watched_module_names(modules, roots):
    """Names in ``modules`` (a ``sys.modules``-like dict) under one of the ``roots``."""
    return [n for n in _list(modules) if n.split(".")[0] in roots or n == "builtins"]


def take_snapshot(modules, roots, is_strict):
    """Record, by identity, what the tests rely on: each watched module's attribute table,
    the callables of classes defined in watched packages, the code and defaults of every
    Python function there, and the ``sys.modules`` entries. ``is_strict(name)``: does an
    attribute *added* to that module count (it does for the modules the tests name)?"""
    import types
    FunctionType, ModuleType = types.FunctionType, types.ModuleType
    mods, classes, funcs, seen = {}, {}, {}, _set()

    def note_func(fn):
        if _type(fn) is FunctionType and _id(fn) not in funcs:
            funcs[_id(fn)] = (fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__)

    owners = _set(roots) | {"builtins"}
    for name in watched_module_names(modules, roots):
        mod = modules.get(name)
        if not _issubclass(_type(mod), ModuleType):
            continue
        d = mod.__dict__
        strict = _bool(is_strict(name))
        mods[name] = (mod, _dict(d), strict)
        for v in _list(d.values()):
            tv = _type(v)
            if _issubclass(tv, _type):
                if _id(v) in seen:
                    if strict and _id(v) in classes:
                        classes[_id(v)] = classes[_id(v)][:2] + (True,)
                    continue
                seen.add(_id(v))
                owner = _getattr(v, "__module__", "") or ""
                if _type(owner) is _str and owner.split(".")[0] in owners and not (v.__flags__ & (1 << 8)):
                    classes[_id(v)] = (v, _dict(v.__dict__), strict)
                    for m in _list(v.__dict__.values()):
                        note_func(m)
                        if _type(m) in (_property, _classmethod, _staticmethod):
                            for attr in ("fget", "fset", "__func__"):
                                note_func(_getattr(m, attr, None))
            else:
                note_func(v)
    sysmods = {n: modules.get(n) for n in mods}
    return {"mods": mods, "classes": classes, "funcs": funcs, "sysmods": sysmods,
            "modules": modules}


def add_function(snap, fn):
    """Watch one more function's code and defaults (a test's own body, the guard's check)."""
    if _id(fn) not in snap["funcs"] and _hasattr(fn, "__code__"):
        snap["funcs"][_id(fn)] = (fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__)


def _interesting(name, old, new, dunders):
    if name.startswith("__") and name.endswith("__") and name not in dunders:
        return False
    if name.startswith("_") and not _callable(old) and not _callable(new):
        return False
    return True


def diff(snap, dunders=(), builtins_skip=()):
    """What changed since ``snap``, each as a phrase naming the change."""
    import types
    ModuleType = types.ModuleType
    modules = snap["modules"]
    found = []
    for name, (mod, before, strict) in snap["mods"].items():
        now = mod.__dict__
        for attr, old in before.items():
            if name == "builtins" and attr in builtins_skip:
                continue
            new = now.get(attr, MISSING)
            if new is not old and _interesting(attr, old, new, dunders):
                found.append(f"{'deleted' if new is MISSING else 'replaced'} {name}.{attr}")
        for attr in _list(now):
            if not strict or attr in before or (name == "builtins" and attr in builtins_skip):
                continue
            new = now.get(attr, MISSING)
            if attr.startswith("_") or (_isinstance(new, ModuleType) and modules.get(f"{name}.{attr}") is new):
                continue
            found.append(f"added {name}.{attr}")
    for cls, before, strict in snap["classes"].values():
        now = cls.__dict__
        cname = f"{_getattr(cls, '__module__', '?')}.{cls.__qualname__}"
        for attr, old in before.items():
            new = now.get(attr, MISSING)
            if new is not old and (_callable(old) or _callable(new) or _hasattr(old, "__get__")):
                found.append(f"{'deleted' if new is MISSING else 'replaced'} {cname}.{attr}")
        for attr in _list(now):
            if strict and attr not in before and (_callable(now.get(attr)) or _hasattr(now.get(attr), "__get__")):
                found.append(f"added {cname}.{attr}")
    for fn, code, dflt, kwd in snap["funcs"].values():
        if fn.__code__ is not code or fn.__defaults__ is not dflt or fn.__kwdefaults__ is not kwd:
            found.append(f"rewrote the code of {_getattr(fn, '__module__', '?')}.{fn.__qualname__}")
    for name, mod in snap["sysmods"].items():
        if modules.get(name, MISSING) is not mod:
            found.append(f"replaced sys.modules[{name!r}]")
    return found


def restore(snap, builtins_skip=()):
    """Put back everything ``diff`` can report."""
    import types
    ModuleType = types.ModuleType
    type_setattr, type_delattr = _type.__setattr__, _type.__delattr__
    modules = snap["modules"]
    for name, (mod, before, strict) in snap["mods"].items():
        now = mod.__dict__
        for attr in _list(now):
            if strict and attr not in before and not (name == "builtins" and attr in builtins_skip):
                new = now.get(attr)
                if not (_isinstance(new, ModuleType) and modules.get(f"{name}.{attr}") is new):
                    del now[attr]
        for attr, old in before.items():
            if name == "builtins" and attr in builtins_skip:
                continue
            if now.get(attr, MISSING) is not old:
                now[attr] = old
    for cls, before, strict in snap["classes"].values():
        now = cls.__dict__
        for attr in _list(now):
            if strict and attr not in before:
                try:
                    type_delattr(cls, attr)
                except _BaseException:
                    pass
        for attr, old in before.items():
            if now.get(attr, MISSING) is not old:
                try:
                    type_setattr(cls, attr, old)
                except _BaseException:
                    pass
    for fn, code, dflt, kwd in snap["funcs"].values():
        if fn.__code__ is not code:
            fn.__code__ = code
        if fn.__defaults__ is not dflt:
            fn.__defaults__ = dflt
        if fn.__kwdefaults__ is not kwd:
            fn.__kwdefaults__ = kwd
    for name, mod in snap["sysmods"].items():
        if modules.get(name, MISSING) is not mod:
            modules[name] = mod


def accept(snap, mod, name, value, deleted=False):
    """A library rebinding a watched name is legitimate: take it into the snapshot."""
    import types
    entry = snap["mods"].get(mod.__name__) if snap is not None else None
    if entry is not None and entry[0] is mod:
        if deleted:
            entry[1].pop(name, None)
        else:
            entry[1][name] = value
            if _type(value) is types.FunctionType:
                add_function(snap, value)


def library_roots_here():
    """Folders whose files are library code in this interpreter (read before student code)."""
    import os
    import site
    import sys
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    try:
        roots.update(site.getsitepackages())
    except _BaseException:
        pass
    return _sorted(os.path.realpath(r) for r in roots)


# ------------------------------------------------------------------------- the guard
def arm(cfg_fd=None):  # noqa: C901  (one closure on purpose: no state reachable from outside)
    import _hashlib
    import _socket
    import copy
    import functools
    import json
    import os
    import sys
    import traceback
    import types

    # The channel: a socket inherited from the tool (no address). Its first line is this
    # configuration, key and nonce included; they exist nowhere else in the sandbox.
    fd = _int(cfg_fd if cfg_fd is not None else os.environ.pop("ACGRADE_CHANNEL_FD"))
    os.set_inheritable(fd, False)
    sock = _socket.socket(fileno=fd)
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("the grading tool closed the channel before sending the configuration")
        buf += chunk
    cfg = json.loads(buf)
    del buf
    pol = cfg["policy"]

    key = bytes.fromhex(cfg["key"])
    nonce = cfg["nonce"]
    tests_dir = os.path.realpath(cfg["tests_dir"])
    lib_roots = _tuple(p + os.sep for p in library_roots_here())
    lib_roots += _tuple(os.path.realpath(p) + os.sep for p in cfg.get("library_dirs", []))
    lib_roots += _tuple(os.path.realpath(p) for p in cfg.get("support_files", []))

    # Import what the tests use before anything else, so it is snapshotted; never
    # from the submission's folder (a numpy.py shipped in a zip must not shadow numpy).
    saved_path = _list(sys.path)
    sub_dir = os.path.realpath(cfg["submission_dir"])
    sys.path[:] = [p for p in sys.path if p not in ("", ".")
                   and not os.path.realpath(p).startswith(sub_dir)]
    loaded = []
    try:
        for name in cfg["watch"]:
            try:
                __import__(name)
                loaded.append(name)
            except _BaseException:  # an optional module, or an attribute chain, not a module
                pass
    finally:
        sys.path[:] = saved_path
    for name in cfg.get("support", []):  # the autograder's own helper modules (files/)
        try:
            __import__(name)
            loaded.append(name)
        except _BaseException:
            pass

    from otter.execute import Checker
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file
    from otter.test_files.abstract_test import TestFile

    test_files = [create_test_file(path, NBMetadataConfig()) for path in _sorted(cfg["tests"])]
    by_path = {os.path.realpath(tf.path): tf for tf in test_files}

    _getframe = sys._getframe
    _settrace, _setprofile = sys.settrace, sys.setprofile
    _getswitch, _setswitch = sys.getswitchinterval, sys.setswitchinterval
    _hmac = _hashlib.hmac_digest
    _realpath, _fspath, _basename = os.path.realpath, os.fspath, os.path.basename
    _modules = sys.modules
    _FunctionType, _ModuleType = types.FunctionType, types.ModuleType
    _mod_setattr, _mod_delattr = types.ModuleType.__setattr__, types.ModuleType.__delattr__
    _copy = copy.copy
    _run = {_id(tf): _type(tf).run for tf in test_files}
    _score, _possible, _summary = TestFile.score.fget, TestFile.possible.fget, TestFile.summary
    _update_wrapper = functools.update_wrapper
    _format_exc = traceback.format_exc
    _take, _diff, _restore, _accept = take_snapshot, diff, restore, accept

    watch_roots = _set(n.split(".")[0] for n in loaded)
    strict_names = _set(loaded) | {"builtins"}
    builtins_skip = _set(pol["builtins_skip"])
    dunders = _set(pol["watched_dunders"])
    thin = _tuple(pol["thin_wrappers"])

    def is_strict(name):
        # Modules the tests name (and otter/doctest, which do the grading): anything
        # added to them counts. Other loaded submodules of a watched package only
        # count replacements and deletions: libraries add to those lazily.
        return name in strict_names or name.split(".")[0] in ("otter", "doctest")

    state = {"seq": 0, "busy": False, "finished": False, "current": None,
             "violations": [], "results": {}, "run_violations": 0}

    # ------------------------------------------------------------------ channel
    _send = sock.sendall

    def emit(kind, payload):
        state["seq"] += 1
        body = _repr((state["seq"], kind, payload)).encode("utf-8")
        line = _hmac(key, body, "sha256").hex() + " " + body.hex() + "\n"
        try:
            _send(line.encode("ascii"))
        except _BaseException:
            pass  # a closed channel is the tool's finding, not ours

    def clip(s, n=2000):
        s = s if _type(s) is _str else "<non-string>"
        return s if _len(s) <= n else s[:n] + f"... [{_len(s) - n} more characters]"

    # ------------------------------------------------------------- who is who
    kind_cache = {}

    def is_library_file(filename):
        got = kind_cache.get(filename)
        if got is None:
            got = _type(filename) is _str and (filename.startswith(lib_roots) or filename.startswith("<frozen ")
                                               or filename.startswith("<doctest "))
            kind_cache[filename] = got
        return got

    grader_codes = _set()

    def student_on_stack(start):
        """Is any frame from the submission on the stack (stopping at the guard's own
        test runner, above which sit only the grader's cells and IPython)?"""
        f = start
        while f is not None:
            code = f.f_code
            if code in grader_codes:
                return False
            if not is_library_file(code.co_filename):
                return True
            f = f.f_back
        return False

    def direct_student(start):
        """Is the nearest Python frame outside thin wrapper modules from the submission?"""
        f = start
        while f is not None:
            g = f.f_globals.get("__name__", "") if _type(f.f_globals) is _dict else ""
            if _type(g) is _str and g.split(".")[0] in thin and is_library_file(f.f_code.co_filename):
                f = f.f_back
                continue
            return not is_library_file(f.f_code.co_filename) and f.f_code not in grader_codes
        return False

    def library_import(start):
        """Is a library module being imported between this frame and the nearest student
        frame? (torch.package replaces inspect.getfile while torch is imported.)"""
        f = start
        while f is not None:
            code = f.f_code
            if not is_library_file(code.co_filename):
                return False
            if code.co_name == "<module>" and not code.co_filename.startswith("<"):
                return True
            f = f.f_back
        return False

    # ------------------------------------------------------------ violations
    def violation(reason, block):
        where = state["current"]
        state["violations"].append((reason, where))
        if where is not None:
            state["run_violations"] += 1
        emit("violation", {"reason": clip(reason, 300), "question": where})
        if block:
            raise _PermissionError(f"blocked by the course grader: {reason}")

    # ------------------------------------------- guarded module attribute sets
    snap = None

    class GuardedModule(_ModuleType):
        def __setattr__(self, name, value):
            if not state["busy"]:
                caller = _getframe(1)
                if direct_student(caller):
                    violation(f"assigned {self.__name__}.{name}", True)
                elif not student_on_stack(caller) or library_import(caller):
                    state["busy"] = True
                    try:
                        _accept(snap, self, name, value)
                    finally:
                        state["busy"] = False
            _mod_setattr(self, name, value)

        def __delattr__(self, name):
            if not state["busy"]:
                caller = _getframe(1)
                if direct_student(caller):
                    violation(f"deleted {self.__name__}.{name}", True)
                elif not student_on_stack(caller) or library_import(caller):
                    _accept(snap, self, name, None, deleted=True)
            _mod_delattr(self, name)

    # ----------------------------------------------- otter's check, the guard's way
    real_check = Checker.__dict__["check"].__func__

    def check(cls, nb_or_test_path, nbmeta_config=None, test_name=None, global_env=None):
        """otter's ``Checker.check``: a question graded at its check cell (the last one counts)."""
        try:
            tf = by_path.get(_realpath(_fspath(nb_or_test_path)))
        except _BaseException:
            tf = None
        if tf is None or test_name is not None:  # not one of the autograder's test files
            return real_check(cls, nb_or_test_path, nbmeta_config, test_name,
                              global_env if global_env is not None else _getframe(1).f_globals)
        if global_env is None:
            global_env = _getframe(1).f_globals
        if state["current"] is not None:
            violation("called grader.check from inside a question's tests", False)
            return _copy(tf)
        if state["finished"]:  # after the grade was sent (an early finish is itself flagged)
            return _copy(tf)
        return grade(tf, global_env, "check cell")

    _type.__setattr__(Checker, "check", _classmethod(check))

    for name in watched_module_names(_modules, watch_roots):
        mod = _modules.get(name)
        if _type(mod) is _ModuleType and is_strict(name):
            try:
                mod.__class__ = GuardedModule
            except _BaseException:
                pass

    # Library first uses that change the library itself (policy.WARMUPS), done before
    # the snapshot so that the student's own first use finds them done.
    for root, code in cfg.get("warmups", []):
        if root in watch_roots:
            try:
                exec(compile(code, f"<acgrade warm-up of {root}>", "exec"), {"__name__": "acgrade_warmup"})
            except _BaseException:
                pass
    snap = _take(_modules, watch_roots, is_strict)
    for tf in test_files:  # the tests' own functions (exception-format tests)
        for case in tf.test_cases:
            if _type(case.body) is _FunctionType:
                add_function(snap, case.body)
    watched_ids = _set(snap["funcs"]) | _set(snap["classes"])
    watched_ids |= _set(_id(m) for m, _, _ in snap["mods"].values())

    # ------------------------------------------------------- return-value check
    proto = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__",
             "__array__", "__array_function__", "__array_ufunc__", "__array_interface__",
             "__torch_function__", "__torch_dispatch__", "__float__", "__int__", "__index__",
             "__abs__", "__sub__", "__rsub__", "__repr__", "__str__", "__format__",
             "__getattr__", "__getattribute__", "__len__", "__iter__", "__getitem__")
    type_cache = {}

    def student_type(t):
        got = type_cache.get(_id(t))
        if got is None:
            got = False
            for k in t.__mro__:
                if k is _object:
                    continue
                mod = _getattr(k, "__module__", None)
                m = _modules.get(mod) if _type(mod) is _str else None
                file = _getattr(m, "__file__", None) if m is not None else None
                lib = mod == "builtins" or m is not None and mod != "__main__" and (
                    file is None and mod in sys.builtin_module_names
                    or _type(file) is _str and is_library_file(file))
                own = [v for v in k.__dict__.values() if _type(v) is _FunctionType
                       and not is_library_file(v.__code__.co_filename)]
                if (not lib or own) and _any(p in k.__dict__ for p in proto):
                    got = True
                    break
            type_cache[_id(t)] = got
        return got

    plain = (int, float, bool, complex, str, bytes, _type(None))

    def deceptive(r, depth=0):
        t = _type(r)
        if t in plain or depth > 3:
            return None
        if t in (tuple, list):
            for x in r[:100]:
                got = deceptive(x, depth + 1)
                if got:
                    return got
            return None
        if t is dict:
            for x in _list(r.values())[:100]:
                got = deceptive(x, depth + 1)
                if got:
                    return got
            return None
        if student_type(t):
            return t.__qualname__
        dtype = _getattr(r, "dtype", None) if t.__module__ == "numpy" else None
        if dtype is not None and _getattr(dtype, "kind", "") == "O":
            for x in r.ravel()[:100]:
                got = deceptive(x, depth + 1)
                if got:
                    return got
        return None

    def wrap(fn):
        def checked(*args, **kwargs):
            out = fn(*args, **kwargs)
            bad = deceptive(out)
            if bad:
                violation(f"{fn.__name__}() returned an object of class {bad}, defined in the "
                          "submission with its own comparison/conversion methods", False)
            return out
        try:
            _update_wrapper(checked, fn)
        except _BaseException:
            pass
        return checked

    # ------------------------------------------------------------ one question
    def settle(suffix=""):
        """Report and undo tampering, and stop tracers, before or after a question runs."""
        state["busy"] = True
        try:
            for reason in _diff(snap, dunders, builtins_skip):
                violation(reason + suffix, False)
            _restore(snap, builtins_skip)
            _settrace(None)
            _setprofile(None)
        finally:
            state["busy"] = False

    def grade(tf, namespace, at):
        """Run one question's tests against ``namespace`` (a copy of it) and keep the result."""
        interval = _getswitch()
        try:
            settle()
            _setswitch(1000.0)  # other (student) threads barely run while tests do
            state["current"], state["run_violations"] = tf.name, 0
            env = _dict(namespace) if _isinstance(namespace, _dict) else _dict(user_ns)
            # The tests find np, torch, math... in the namespace: those names must be the
            # installed modules, not look-alikes.
            for base in cfg["bases"].get(tf.name, []):
                v = env.get(base, MISSING)
                want = pol["aliases"].get(base)
                if _isinstance(v, _ModuleType):
                    real = _modules.get(v.__name__)
                    file = _getattr(v, "__file__", None)
                    if real is not v or (_type(file) is _str and not is_library_file(file)):
                        violation(f"the name {base!r} is bound to a look-alike of module {v.__name__!r}", False)
                elif want and v is not MISSING:
                    violation(f"the name {base!r} (module {want!r} in the tests) is bound "
                              f"to a {_type(v).__name__}", False)
            for k, v in _list(env.items()):
                if _type(v) is _FunctionType and not is_library_file(v.__code__.co_filename):
                    env[k] = wrap(v)
            crashed = None
            try:
                _run[_id(tf)](tf, env)
            except _BaseException as e:  # SystemExit and friends from student code
                crashed = f"{_type(e).__name__}: {clip(_str(e), 300)}"
            settle(" (while its tests ran)")
            tainted = state["run_violations"] > 0
            state["current"] = None
            try:
                score = _float(_score(tf))
                summary = _summary(tf)
            except _BaseException as e:
                score, summary = 0.0, f"could not score: {e!r}"
            if crashed:
                score, summary = 0.0, f"the tests were interrupted by {crashed}"
            if tainted:
                score = 0.0
            cases = [{"name": clip(_str(r.test_case.name), 200), "hidden": _bool(r.test_case.hidden),
                      "points": _float(r.test_case.points or 0.0), "passed": r.passed is True,
                      "message": clip(_str(r.message or ""), 1500)} for r in tf.test_case_results]
            state["results"][tf.name] = {"name": tf.name, "score": score, "possible": _float(_possible(tf)),
                                         "summary": clip(_str(summary), 4000), "cases": cases,
                                         "graded_at": at}
            shown = _copy(tf)  # what the student's cell displays; the guard keeps its own
            shown.test_cases = _list(tf.test_cases)
            shown.test_case_results = _list(tf.test_case_results)
            return shown
        finally:
            state["current"] = None
            state["busy"] = False
            _setswitch(interval)

    # -------------------------------------------------------------- the grade
    def finish(got_nonce):
        if state["finished"]:
            violation("asked the grader to finish twice", False)
            return
        if got_nonce != nonce:
            violation("triggered the grader's finish event itself", False)
        try:
            for tf in test_files:  # otter's export cell: every question not checked yet
                if tf.name not in state["results"]:
                    grade(tf, user_ns, "end of notebook")
            state["finished"] = True
            settle()
            questions = [state["results"][tf.name] for tf in test_files]
            emit("final", {"questions": questions, "violations": _len(state["violations"])})
        except _BaseException:
            state["finished"] = True
            state["busy"] = False
            emit("guard-error", clip(_format_exc(), 4000))

    for fn in (finish, grade, check, settle):
        grader_codes.add(fn.__code__)
    add_function(snap, check)

    # ------------------------------------------------------------------ hook
    frame_attrs = _set(pol["frame_attrs"])
    trace_events = _set(pol["hook_events"])
    events = trace_events | _set(["object.__setattr__", "object.__delattr__", "object.__getattr__",
                                  "open", "compile", "acgrade.finish"])
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def hook(event, args):
        if state["busy"] or (event not in events and event[:7] != "ctypes."):
            return
        if event == "acgrade.finish":
            finish(args[0] if args else None)
            return
        state["busy"] = True
        try:
            caller = _getframe(1)
            if event in ("object.__setattr__", "object.__delattr__"):
                target = args[0]
                if _id(target) in watched_ids and student_on_stack(caller) and not library_import(caller):
                    what = f"{_getattr(target, '__name__', '?')}.{args[1]}"
                    state["busy"] = False
                    violation(f"rewrote {what} in place", True)
            elif event == "object.__getattr__":
                if args[1] in frame_attrs and direct_student(caller):
                    state["busy"] = False
                    violation(f"read .{args[1]} (a way into the grader's frames)", True)
            elif event in trace_events:
                if direct_student(caller):
                    state["busy"] = False
                    violation(f"called {event}", True)
            elif event[:7] == "ctypes.":
                if direct_student(caller):
                    state["busy"] = False
                    violation(f"used ctypes ({event})", True)
            elif event == "open":
                path, mode, flags = (_tuple(args) + (None, None, None))[:3]
                try:
                    p = _realpath(_fspath(path)) if not _isinstance(path, _int) else ""
                except _BaseException:
                    p = ""
                if _type(p) is bytes:
                    p = p.decode("utf-8", "replace")
                writing = (_type(mode) is _str and _any(c in mode for c in "wax+")) or (
                    _type(flags) is _int and flags & write_flags)
                if p and writing and (p == tests_dir or p.startswith(tests_dir + os.sep)) \
                        and student_on_stack(caller):
                    state["busy"] = False
                    violation(f"wrote into the tests folder ({_basename(p)})", True)
                elif p.startswith("/proc/") and p.endswith(("/environ", "/mem")) and direct_student(caller):
                    state["busy"] = False
                    violation(f"read {p}", True)
            elif event == "compile":
                fname = args[1] if _len(args) > 1 else None
                if _type(fname) is bytes:
                    fname = fname.decode("utf-8", "replace")
                if _type(fname) is _str and is_library_file(fname) and direct_student(caller):
                    state["busy"] = False
                    violation(f"compiled code under a library's file name ({fname})", True)
        finally:
            state["busy"] = False

    user_ns = None
    try:
        user_ns = get_ipython().user_ns  # noqa: F821  (IPython kernel)
    except NameError:
        import __main__
        user_ns = __main__.__dict__
    sys.addaudithook(hook)
    emit("armed", {"questions": [tf.name for tf in test_files], "watched": _len(snap["mods"]),
                   "pid": os.getpid()})
