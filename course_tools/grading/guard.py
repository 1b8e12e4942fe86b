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
3. **The tests run from the guard**, not from the student's ``grader.check`` cells:
   test files are parsed before any student code runs (the copies on disk do not
   matter), each question runs in a copy of the student's namespace (the test's
   own variables never become visible to student functions), and top-level student
   functions are wrapped so that a return value whose class comes from the
   submission and overrides comparison/array protocols (an object that "equals"
   anything) is caught.
4. **The verdict leaves the kernel on an authenticated channel**: a socket to the
   grading tool, connected before student code runs (the tool accepts one
   connection only), every message HMAC-signed with a key that exists only in the
   hook's closure and numbered in sequence. Violations are sent the moment they
   are seen, so later student code cannot take them back; a forged, reordered or
   missing message is itself a finding for the tool.

Nothing here is reachable from student code: the state lives in closures of the
hook, the module keeps no globals beyond ``arm`` and the config file is deleted
on reading. This is a tamper *detector* for honest-but-tempted students, not a
sandbox against hostile code (see the README: ``--docker`` for isolation).
"""


def arm():  # noqa: C901  (one closure on purpose: no state reachable from outside)
    import _hashlib
    import _socket
    import builtins
    import json
    import os
    import sys
    import types

    cfg_path = os.environ.pop("ACGRADE_GUARD_CONFIG")
    with open(cfg_path) as f:
        cfg = json.load(f)
    os.unlink(cfg_path)

    key = bytes.fromhex(cfg["key"])
    nonce = cfg["nonce"]
    tests_dir = os.path.realpath(cfg["tests_dir"])
    lib_roots = tuple(os.path.realpath(p) + os.sep for p in cfg["library_roots"])
    lib_roots += tuple(os.path.realpath(p) for p in cfg.get("support_files", []))

    # Import what the tests use before anything else, so it is snapshotted; never
    # from the submission's folder (a numpy.py shipped in a zip must not shadow numpy).
    saved_path = list(sys.path)
    sub_dir = os.path.realpath(cfg["submission_dir"])
    sys.path[:] = [p for p in sys.path if p not in ("", ".")
                   and not os.path.realpath(p).startswith(sub_dir)]
    try:
        for name in cfg["watch"]:
            try:
                __import__(name)
            except Exception:  # an optional module (torch absent): nothing to watch
                pass
    finally:
        sys.path[:] = saved_path
    for name in cfg.get("support", []):  # the autograder's own helper modules (files/)
        try:
            __import__(name)
        except Exception:
            pass

    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file
    from otter.test_files.abstract_test import TestFile

    test_files = []
    for path in sorted(cfg["tests"]):
        test_files.append(create_test_file(path, NBMetadataConfig()))

    # Pristine references (closure cells: immune to later edits of builtins).
    _repr, _type, _id, _len, _str, _isinstance = repr, type, id, len, str, isinstance
    _callable, _getattr, _hasattr, _sorted = callable, getattr, hasattr, sorted
    _dict, _list, _tuple, _set, _enumerate = dict, list, tuple, set, enumerate
    _BaseException, _PermissionError, _float, _bool = BaseException, PermissionError, float, bool
    _getframe = sys._getframe
    _settrace, _setprofile = sys.settrace, sys.setprofile
    _getswitch, _setswitch = sys.getswitchinterval, sys.setswitchinterval
    _hmac = _hashlib.hmac_digest
    _realpath, _fspath = os.path.realpath, os.fspath
    _modules = sys.modules
    _FunctionType, _ModuleType = types.FunctionType, types.ModuleType
    _type_setattr, _type_delattr = type.__setattr__, type.__delattr__
    _mod_setattr, _mod_delattr = types.ModuleType.__setattr__, types.ModuleType.__delattr__
    _object = object
    _run = {}
    for tf in test_files:
        _run[_id(tf)] = _type(tf).run
    _score = TestFile.score.fget
    _possible = TestFile.possible.fget
    _summary = TestFile.summary
    import functools
    _update_wrapper = functools.update_wrapper
    import traceback
    _format_exc = traceback.format_exc

    MISSING = _object()
    watch_roots = _set(n.split(".")[0] for n in cfg["watch"] + cfg.get("support", []))
    # IPython keeps these in builtins and changes them while running cells.
    builtins_skip = _set(["_", "__", "___", "get_ipython", "display", "exit", "quit",
                          "__IPYTHON__", "dreload", "__builtins__", "copyright", "credits",
                          "license", "help"])

    state = {"seq": 0, "busy": False, "finished": False, "current": None,
             "violations": [], "tainted": _set()}

    # ------------------------------------------------------------------ channel
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    sock.connect(("127.0.0.1", cfg["port"]))
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
            got = (filename.startswith(lib_roots) or filename.startswith("<frozen ")
                   or filename.startswith("<doctest "))
            kind_cache[filename] = got
        return got

    finish_codes = _set()

    def student_on_stack(start):
        """Is any frame from the submission on the stack (stopping at the guard's own
        test runner, above which sit only the finish cell and IPython)?"""
        f = start
        while f is not None:
            code = f.f_code
            if code in finish_codes:
                return False
            if not is_library_file(code.co_filename):
                return True
            f = f.f_back
        return False

    def direct_student(start, skip=("ctypes", "inspect", "io", "pathlib", "codecs")):
        """Is the nearest Python frame outside thin wrapper modules from the submission?"""
        f = start
        while f is not None:
            g = f.f_globals.get("__name__", "") if _type(f.f_globals) is _dict else ""
            if _type(g) is _str and g.split(".")[0] in skip and is_library_file(f.f_code.co_filename):
                f = f.f_back
                continue
            return not is_library_file(f.f_code.co_filename) and f.f_code not in finish_codes
        return False

    # ----------------------------------------------------------------- snapshot
    def watched_module_names():
        out = []
        for name in _list(_modules):
            root = name.split(".")[0]
            if root in watch_roots or name == "builtins":
                out.append(name)
        return out

    strict_names = _set(cfg["watch"]) | _set(cfg.get("support", [])) | {"builtins"}

    def is_strict(name):
        # Modules the tests name (and otter/doctest, which do the grading): anything
        # added to them counts. Other loaded submodules of a watched package only
        # count replacements and deletions: libraries add to those lazily.
        return name in strict_names or name.split(".")[0] in ("otter", "doctest")

    _issubclass = issubclass

    def take():
        mods, classes, funcs, seen = {}, {}, {}, _set()

        def note_func(fn):
            if _type(fn) is _FunctionType and _id(fn) not in funcs:
                funcs[_id(fn)] = (fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__)

        for name in watched_module_names():
            mod = _modules.get(name)
            if not _issubclass(_type(mod), _ModuleType):
                continue
            d = mod.__dict__
            strict = is_strict(name)
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
                    if (_type(owner) is _str and owner.split(".")[0] in watch_roots | {"builtins"}
                            and not (v.__flags__ & (1 << 8))):
                        classes[_id(v)] = (v, _dict(v.__dict__), strict)
                        for m in _list(v.__dict__.values()):
                            note_func(m)
                            if _type(m) in (property, classmethod, staticmethod):
                                for attr in ("fget", "fset", "__func__"):
                                    note_func(_getattr(m, attr, None))
                else:
                    note_func(v)
        sysmods = {n: _modules.get(n) for n in mods}
        return {"mods": mods, "classes": classes, "funcs": funcs, "sysmods": sysmods}

    def interesting(name, old, new):
        if name.startswith("__") and name.endswith("__") and name not in (
                "__eq__", "__ne__", "__call__", "__init__", "__new__", "__getattr__",
                "__getattribute__", "__bool__", "__array_function__", "__array_ufunc__",
                "__torch_function__", "__import__"):
            return False
        if name.startswith("_") and not _callable(old) and not _callable(new):
            return False
        return True

    def diff(snap):
        found = []
        for name, (mod, before, strict) in snap["mods"].items():
            now = mod.__dict__
            for attr, old in before.items():
                if name == "builtins" and attr in builtins_skip:
                    continue
                new = now.get(attr, MISSING)
                if new is not old and interesting(attr, old, new):
                    what = "deleted" if new is MISSING else "replaced"
                    found.append(f"{what} {name}.{attr}")
            for attr in _list(now):
                if not strict or attr in before or (name == "builtins" and attr in builtins_skip):
                    continue
                new = now.get(attr, MISSING)
                if attr.startswith("_") or (_isinstance(new, _ModuleType)
                                            and _modules.get(f"{name}.{attr}") is new):
                    continue
                found.append(f"added {name}.{attr}")
        for cid, (cls, before, strict) in snap["classes"].items():
            now = cls.__dict__
            cname = f"{_getattr(cls, '__module__', '?')}.{cls.__qualname__}"
            for attr, old in before.items():
                new = now.get(attr, MISSING)
                if new is not old and (_callable(old) or _callable(new) or _hasattr(old, "__get__")):
                    found.append(f"{'deleted' if new is MISSING else 'replaced'} {cname}.{attr}")
            for attr in _list(now):
                if strict and attr not in before and (_callable(now.get(attr)) or _hasattr(now.get(attr), "__get__")):
                    found.append(f"added {cname}.{attr}")
        for fid, (fn, code, dflt, kwd) in snap["funcs"].items():
            if fn.__code__ is not code or fn.__defaults__ is not dflt or fn.__kwdefaults__ is not kwd:
                found.append(f"rewrote the code of {fn.__module__}.{fn.__qualname__}")
        for name, mod in snap["sysmods"].items():
            if _modules.get(name, MISSING) is not mod:
                found.append(f"replaced sys.modules[{name!r}]")
        return found

    def restore(snap):
        for name, (mod, before, strict) in snap["mods"].items():
            now = mod.__dict__
            for attr in _list(now):
                if strict and attr not in before and not (name == "builtins" and attr in builtins_skip):
                    new = now.get(attr)
                    if not (_isinstance(new, _ModuleType) and _modules.get(f"{name}.{attr}") is new):
                        del now[attr]
            for attr, old in before.items():
                if name == "builtins" and attr in builtins_skip:
                    continue
                if now.get(attr, MISSING) is not old:
                    now[attr] = old
        for cid, (cls, before, strict) in snap["classes"].items():
            now = cls.__dict__
            for attr in _list(now):
                if strict and attr not in before:
                    try:
                        _type_delattr(cls, attr)
                    except _BaseException:
                        pass
            for attr, old in before.items():
                if now.get(attr, MISSING) is not old:
                    try:
                        _type_setattr(cls, attr, old)
                    except _BaseException:
                        pass
        for fid, (fn, code, dflt, kwd) in snap["funcs"].items():
            if fn.__code__ is not code:
                fn.__code__ = code
            if fn.__defaults__ is not dflt:
                fn.__defaults__ = dflt
            if fn.__kwdefaults__ is not kwd:
                fn.__kwdefaults__ = kwd
        for name, mod in snap["sysmods"].items():
            if _modules.get(name, MISSING) is not mod:
                _modules[name] = mod

    # ------------------------------------------------------------ violations
    def violation(reason, block):
        where = state["current"]
        state["violations"].append((reason, where))
        if where is not None:
            state["tainted"].add(where)
        emit("violation", {"reason": clip(reason, 300), "question": where})
        if block:
            raise _PermissionError(f"blocked by the course grader: {reason}")

    # ------------------------------------------- guarded module attribute sets
    snap = None

    def library_set(mod, name, value, deleted=False):
        """A library (no student frame on the stack: a lazy import, ipykernel's input
        forwarding) rebinding a watched name is legitimate: take it into the snapshot."""
        entry = snap["mods"].get(mod.__name__) if snap is not None else None
        if entry is not None and entry[0] is mod:
            if deleted:
                entry[1].pop(name, None)
            else:
                entry[1][name] = value
                if _type(value) is _FunctionType and _id(value) not in snap["funcs"]:
                    snap["funcs"][_id(value)] = (value, value.__code__, value.__defaults__,
                                                 value.__kwdefaults__)

    class GuardedModule(_ModuleType):
        def __setattr__(self, name, value):
            if not state["busy"]:
                caller = _getframe(1)
                if direct_student(caller):
                    violation(f"assigned {self.__name__}.{name}", True)
                elif not student_on_stack(caller):
                    state["busy"] = True
                    try:
                        library_set(self, name, value)
                    finally:
                        state["busy"] = False
            _mod_setattr(self, name, value)

        def __delattr__(self, name):
            if not state["busy"]:
                caller = _getframe(1)
                if direct_student(caller):
                    violation(f"deleted {self.__name__}.{name}", True)
                elif not student_on_stack(caller):
                    library_set(self, name, None, deleted=True)
            _mod_delattr(self, name)

    for name in watched_module_names():
        mod = _modules.get(name)
        if _type(mod) is _ModuleType and is_strict(name):
            try:
                mod.__class__ = GuardedModule
            except _BaseException:
                pass

    snap = take()
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
                if (not lib or own) and any(p in k.__dict__ for p in proto):
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

    # -------------------------------------------------------------- the grade
    def finish(got_nonce):
        if state["finished"]:
            violation("asked the grader to finish twice", False)
            return
        state["finished"] = True
        if got_nonce != nonce:
            violation("triggered the grader's finish event itself", False)
        interval = _getswitch()
        try:
            state["busy"] = True
            for reason in diff(snap):
                violation(reason, False)
            restore(snap)
            _settrace(None)
            _setprofile(None)
            _setswitch(1000.0)  # other (student) threads barely run while tests do
            state["busy"] = False
            questions = []
            for tf in test_files:
                state["current"] = tf.name
                env = _dict(user_ns)
                # The tests find np, torch, math... in the student's namespace: those
                # names must be the installed modules, not look-alikes.
                for base in cfg["bases"].get(tf.name, []):
                    v = env.get(base, MISSING)
                    want = cfg["aliases"].get(base)
                    if _isinstance(v, _ModuleType):
                        real = _modules.get(v.__name__)
                        file = _getattr(v, "__file__", None)
                        if real is not v or (_type(file) is _str and not is_library_file(file)):
                            violation(f"the name {base!r} is bound to a look-alike of module "
                                      f"{v.__name__!r}", False)
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
                state["busy"] = True
                for reason in diff(snap):
                    violation(reason + " (while its tests ran)", False)
                restore(snap)
                _settrace(None)
                _setprofile(None)
                state["busy"] = False
                state["current"] = None
                try:
                    score = _float(_score(tf))
                    summary = _summary(tf)
                except _BaseException as e:
                    score, summary = 0.0, f"could not score: {e!r}"
                if crashed:
                    score, summary = 0.0, f"the tests were interrupted by {crashed}"
                cases = []
                for r in tf.test_case_results:
                    cases.append({"name": clip(_str(r.test_case.name), 200),
                                  "hidden": _bool(r.test_case.hidden),
                                  "points": _float(r.test_case.points or 0.0),
                                  "passed": r.passed is True,
                                  "message": clip(_str(r.message or ""), 1500)})
                questions.append({"name": tf.name, "score": score,
                                  "possible": _float(_possible(tf)),
                                  "summary": clip(_str(summary), 4000), "cases": cases})
            for q in questions:
                if q["name"] in state["tainted"]:
                    q["score"] = 0.0
            emit("final", {"questions": questions, "violations": _len(state["violations"])})
        except _BaseException:
            state["busy"] = False
            emit("guard-error", clip(_format_exc(), 4000))
        finally:
            _setswitch(interval)

    finish_codes.add(finish.__code__)

    # ------------------------------------------------------------------ hook
    frame_attrs = _set(["tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"])
    trace_events = _set(["sys.settrace", "sys.setprofile", "sys.addaudithook",
                         "sys._current_frames", "gc.get_objects", "gc.get_referrers",
                         "gc.get_referents", "os.kill", "os.killpg", "signal.pthread_kill",
                         "sys._getframe", "sys._getframemodulename"])
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
                if _id(target) in watched_ids and student_on_stack(caller):
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
                    p = _realpath(_fspath(path)) if not _isinstance(path, int) else ""
                except _BaseException:
                    p = ""
                if _type(p) is bytes:
                    p = p.decode("utf-8", "replace")
                writing = (_type(mode) is _str and any(c in mode for c in "wax+")) or (
                    _type(flags) is int and flags & write_flags)
                if p and writing and (p == tests_dir or p.startswith(tests_dir + os.sep)) \
                        and student_on_stack(caller):
                    state["busy"] = False
                    violation(f"wrote into the tests folder ({os.path.basename(p)})", True)
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
    emit("armed", {"questions": [tf.name for tf in test_files], "watched": _len(snap["mods"])})
