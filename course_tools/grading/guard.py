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
   name, programs started by student code (``subprocess``, ``os.system``,
   ``os.exec*``...). The hook is a table: ``policy.EVENT_RULES`` names, for each
   audit event, the **rules** below (``RULES``) that run for it; each rule is a plain
   function of (event, arguments, caller frame, ``Context``) that returns a finding
   (reason, block?) or None, unit-tested with fake frames (tests/grading/
   test_guard_rules.py). Watched modules also get a module class whose
   ``__setattr__`` has the hook block assignment from student code.
3. **The tests run from the guard**, when and where otter (and Gradescope) would run
   them: otter's ``Checker.check`` is replaced by the guard's, so a question is graded
   at its ``grader.check`` cell against the namespace of that moment (the last check
   of a question counts) and a question never checked is graded at the end, as
   otter's export cell does. Test files are parsed before any student code runs (the
   copies on disk do not matter), each run uses a copy of the namespace (the test's
   own variables never become visible to student functions), and top-level student
   functions are wrapped so that a return value whose class comes from the
   submission and overrides comparison/array protocols (an object that "equals"
   anything) is caught. Scoring a question (``question_result``: otter's score,
   summary and cases) is apart from detection: the result carries the violations
   seen while its tests ran, and the tool's verdict gives such a question 0.
4. **The verdict leaves the kernel on an authenticated channel**: one end of a socket
   pair the kernel inherits from the grading tool (no address: nothing can connect to
   it), read before student code runs for this configuration (``read_config``: the
   fields of ``kernel_config.KernelConfig``, as JSON; the key never touches a file),
   every message HMAC-signed with a key that exists only in ``arm``'s closures and
   numbered in sequence. Violations are sent the moment they are seen, so later
   student code cannot take them back; a forged, reordered or missing message is
   itself a finding for the tool.

What the guard watches (modules, events, frame attributes, ``/proc`` files, protocol
methods, strict packages) is ``policy.py``'s, sent in the configuration; how each check
works is here. Nothing here is reachable from student code: the kernel loads this file with
``runpy.run_path`` (it is not in ``sys.modules``), the state (the key, the nonce, the
snapshot, the ``Context``, the resolved rule table) lives in closures of ``arm`` that only
the audit hook holds, the module's functions use builtins bound when the file is loaded, and
the configuration arrives on the channel (no file holds it). What student code *can* reach
(``Checker.check``, the watched modules' class, the wrappers of tested functions; reading
``__closure__`` or ``__globals__`` raises no audit event) are the ``_ENTRY_POINTS``: they
hold no state, live in a private table of globals that every settle checks, and only raise
``acgrade.*`` audit events that the hook handles when they come from them. The snapshot functions, the rules, the stack
tests and the scoring are plain functions so that they can be unit-tested outside a
kernel. The file needs only the standard library and otter: it runs in the grading
environment, where the course's packages are not installed. This is a tamper *detector*
for honest-but-tempted students; isolation from the machine is the sandbox's job
(``bwrap``: the kernel runs in bubblewrap).
"""
from os import O_APPEND, O_CREAT, O_RDWR, O_TRUNC, O_WRONLY
from os import fspath as _fspath
from os import sep as _sep
from os.path import basename as _basename
from os.path import realpath as _realpath
from types import FunctionType as _FunctionType
from types import ModuleType as _ModuleType

# Pristine builtins, bound when the file is loaded (before any student code): the functions
# below look these up in this module's globals, never in (patchable) builtins.
_type, _id, _len, _str, _isinstance, _issubclass = type, id, len, str, isinstance, issubclass
_callable, _getattr, _hasattr, _sorted, _repr = callable, getattr, hasattr, sorted, repr
_dict, _list, _tuple, _set, _object, _any = dict, list, tuple, set, object, any
_BaseException, _PermissionError, _float, _bool, _int = BaseException, PermissionError, float, bool, int
_property, _classmethod, _staticmethod, _bytes = property, classmethod, staticmethod, bytes
_PLAIN = (int, float, bool, complex, str, bytes, type(None))
_WRITE_FLAGS = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND

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




# ------------------------------------------------------------------------ who is who
class Context:
    """What the rules and the stack tests know: built by ``arm`` (``make_context``) and held
    only by its closures. It holds no key and no nonce (those stay in ``arm``)."""
    __slots__ = ("lib_roots", "grader_codes", "thin", "process_thin", "tests_dir", "watched_ids",
                 "frame_attrs", "proc_secrets", "program_arg", "protocol", "modules", "builtin_names", "files", "types")


def make_context(pol, lib_roots, tests_dir, modules, builtin_names=()):
    """A ``Context`` from the configuration's policy (``policy.guard_policy()``): ``lib_roots``
    are prefixes of library files (folders end with a separator), ``tests_dir`` the tests
    folder's real path, ``modules`` a ``sys.modules``-like dict. The grader's own code objects
    (``grader_codes``) and the snapshot's ids (``watched_ids``) are added by ``arm``."""
    ctx = Context()
    ctx.lib_roots = _tuple(lib_roots)
    ctx.grader_codes, ctx.watched_ids = _set(), _set()
    ctx.thin = _tuple(pol["thin_wrappers"])
    ctx.process_thin = ctx.thin + _tuple(pol["process_wrappers"])
    ctx.tests_dir = tests_dir
    ctx.frame_attrs = _set(pol["frame_attrs"])
    prefix, suffixes = pol["proc_secrets"]
    ctx.proc_secrets = (prefix, _tuple(suffixes))
    ctx.protocol = _tuple(pol["protocol_dunders"])
    ctx.program_arg = _dict(pol["process_events"])
    ctx.modules, ctx.builtin_names = modules, _tuple(builtin_names)
    ctx.files, ctx.types = {}, {}  # caches: file name -> library?, id(class) -> deceptive?
    return ctx


def is_library_file(filename, ctx):
    """Is ``filename`` (a code object's) library code: under a library root, frozen, a doctest?"""
    got = ctx.files.get(filename)
    if got is None:
        got = _type(filename) is _str and (filename.startswith(ctx.lib_roots) or filename.startswith("<frozen ")
                                           or filename.startswith("<doctest "))
        ctx.files[filename] = got
    return got


def student_on_stack(start, ctx):
    """Is any frame from the submission on the stack (stopping at the guard's own test
    runner, above which sit only the grader's cells and IPython)?"""
    f = start
    while f is not None:
        code = f.f_code
        if code in ctx.grader_codes:
            return False
        if not is_library_file(code.co_filename, ctx):
            return True
        f = f.f_back
    return False


def direct_student(start, ctx, skip=None):
    """Is the nearest Python frame outside the thin wrapper modules (``skip``, by default
    ``ctx.thin``) from the submission?"""
    skip = ctx.thin if skip is None else skip
    f = start
    while f is not None:
        g = f.f_globals.get("__name__", "") if _type(f.f_globals) is _dict else ""
        if _type(g) is _str and g.split(".")[0] in skip and is_library_file(f.f_code.co_filename, ctx):
            f = f.f_back
            continue
        return not is_library_file(f.f_code.co_filename, ctx) and f.f_code not in ctx.grader_codes
    return False


def library_import(start, ctx):
    """Is a library module being imported between this frame and the nearest student
    frame? (torch.package replaces inspect.getfile while torch is imported.)"""
    f = start
    while f is not None:
        code = f.f_code
        if not is_library_file(code.co_filename, ctx):
            return False
        if code.co_name == "<module>" and not code.co_filename.startswith("<"):
            return True
        f = f.f_back
    return False


def clip(s, n=2000):
    """``s`` cut to ``n`` characters (saying how many were cut); not a string: a placeholder."""
    s = s if _type(s) is _str else "<non-string>"
    return s if _len(s) <= n else s[:n] + f"... [{_len(s) - n} more characters]"


# ---------------------------------------------------------------------------- rules
# Each rule: (event, args, caller frame, context) -> (reason, block) or None. The hook runs
# the rules ``policy.EVENT_RULES`` names for an event, in order; a finding is reported at
# once over the channel, and one that blocks raises PermissionError in the caller. Rules run
# with the guard's hook switched off (no audit event of theirs is seen) and must never call
# student code (no repr/str of an argument that is not a str).
def rewrite_in_place(event, args, frame, ctx):
    """``object.__setattr__``/``__delattr__`` (``__code__``, ``__defaults__``, ``__class__``...)
    on a watched module, class or function, from student code, not while a library imports."""
    target = args[0]
    if _id(target) in ctx.watched_ids and student_on_stack(frame, ctx) and not library_import(frame, ctx):
        return f"rewrote {_getattr(target, '__name__', '?')}.{args[1]} in place", True
    return None


def frame_attribute(event, args, frame, ctx):
    """``object.__getattr__`` of an attribute that leads into frames (``tb_frame``...)."""
    if args[1] in ctx.frame_attrs and direct_student(frame, ctx):
        return f"read .{args[1]} (a way into the grader's frames)", True
    return None


def direct_call(event, args, frame, ctx):
    """Any call student code makes itself (``sys.settrace``, ``gc.get_referrers``, ``os.kill``...)."""
    if direct_student(frame, ctx):
        return f"called {event}", True
    return None


def ctypes_call(event, args, frame, ctx):
    """Any ``ctypes.*`` event raised for student code (through ctypes' own Python wrappers)."""
    if direct_student(frame, ctx):
        return f"used ctypes ({event})", True
    return None


def _opened_path(path):
    """The real path an ``open`` event names ("" for a descriptor or anything unreadable)."""
    try:
        p = _realpath(_fspath(path)) if not _isinstance(path, _int) else ""
    except _BaseException:
        p = ""
    if _type(p) is _bytes:
        p = p.decode("utf-8", "replace")
    return p if _type(p) is _str else ""


def tests_folder_write(event, args, frame, ctx):
    """``open`` for writing of a file in the tests folder, with student code on the stack."""
    path, mode, flags = (_tuple(args) + (None, None, None))[:3]
    if not ((_type(mode) is _str and _any(c in mode for c in "wax+"))
            or (_type(flags) is _int and flags & _WRITE_FLAGS)):
        return None
    p, tests = _opened_path(path), ctx.tests_dir
    if p and (p == tests or p.startswith(tests + _sep)) and student_on_stack(frame, ctx):
        return f"wrote into the tests folder ({_basename(p)})", True
    return None


def proc_secret_read(event, args, frame, ctx):
    """``open`` of another process's environment or memory (``policy.PROC_SECRETS``)."""
    p = _opened_path(args[0] if args else None)
    prefix, suffixes = ctx.proc_secrets
    if p.startswith(prefix) and p.endswith(suffixes) and direct_student(frame, ctx):
        return f"read {p}", True
    return None


def library_file_name(event, args, frame, ctx):
    """``compile`` of student code under a library's file name (its frames would pass as library)."""
    fname = args[1] if _len(args) > 1 else None
    if _type(fname) is _bytes:
        fname = fname.decode("utf-8", "replace")
    if _type(fname) is _str and is_library_file(fname, ctx) and direct_student(frame, ctx):
        return f"compiled code under a library's file name ({fname})", True
    return None


def _program(event, args, ctx):
    """The name of the program a process event starts (``/usr/bin/kill -9 1`` -> ``kill``),
    when it is given as a string (else "")."""
    a, i = args if _type(args) is _tuple else (), ctx.program_arg.get(event, 0)
    got = a[i] if _type(i) is _int and 0 <= i < _len(a) else None
    if _type(got) in (_list, _tuple):
        got = got[0] if got else None
    if _type(got) is _bytes:
        got = got.decode("utf-8", "replace")
    if _type(got) is not _str or not got.split():
        return ""
    return clip(_basename(got.split()[0]), 80)


def process_start(event, args, frame, ctx):
    """A program started by student code itself (``subprocess``, ``os.system``, ``os.exec*``,
    ``os.spawn*``, ``os.posix_spawn``, ``pty.spawn``), seen through those modules' own Python
    frames (``policy.PROCESS_WRAPPERS``). A library's processes (IPython's ``!cmd``) pass."""
    if direct_student(frame, ctx, ctx.process_thin):
        prog = _program(event, args, ctx)
        return (f"started a process ({event}: {prog})" if prog else f"started a process ({event})"), True
    return None


RULES = {fn.__name__: fn for fn in (rewrite_in_place, frame_attribute, direct_call, ctypes_call,
                                    tests_folder_write, proc_secret_read, library_file_name, process_start)}


def rule_lookup(event_rules, rules=None):
    """The hook's table from ``policy.EVENT_RULES`` (event or ``"prefix.*"`` -> rule names),
    resolved now (rebinding ``RULES`` later changes nothing): a function event -> rules or None."""
    rules = RULES if rules is None else rules
    exact, prefixed = {}, {}
    for event, names in event_rules.items():
        fns = _tuple(rules[n] for n in names)
        if event.endswith(".*"):
            prefixed[event[:-1]] = fns
        else:
            exact[event] = fns
    exact_get, prefixed_get = exact.get, prefixed.get

    def lookup(event):
        got = exact_get(event)
        if got is None and prefixed:
            i = event.find(".")
            if i > 0:
                got = prefixed_get(event[:i + 1])
        return got
    return lookup


def namespace_findings(names, env, aliases, ctx):
    """The names a question's tests find in ``env`` (``np``, ``torch``...): each must be the
    installed module, not a look-alike. Returns the findings (reasons)."""
    found = []
    for base in names:
        v = env.get(base, MISSING)
        want = aliases.get(base)
        if _isinstance(v, _ModuleType):
            real = ctx.modules.get(v.__name__)
            file = _getattr(v, "__file__", None)
            if real is not v or (_type(file) is _str and not is_library_file(file, ctx)):
                found.append(f"the name {base!r} is bound to a look-alike of module {v.__name__!r}")
        elif want and v is not MISSING:
            found.append(f"the name {base!r} (module {want!r} in the tests) is bound to a {_type(v).__name__}")
    return found


# ------------------------------------------------------------- return-value check
def student_type(t, ctx):
    """Does class ``t`` (or a base) come from the submission and define one of the
    comparison/conversion/array protocols (``policy.PROTOCOL_DUNDERS``)?"""
    got = ctx.types.get(_id(t))
    if got is None:
        got = False
        for k in t.__mro__:
            if k is _object:
                continue
            mod = _getattr(k, "__module__", None)
            m = ctx.modules.get(mod) if _type(mod) is _str else None
            file = _getattr(m, "__file__", None) if m is not None else None
            lib = mod == "builtins" or m is not None and mod != "__main__" and (
                file is None and mod in ctx.builtin_names
                or _type(file) is _str and is_library_file(file, ctx))
            own = [v for v in k.__dict__.values() if _type(v) is _FunctionType
                   and not is_library_file(v.__code__.co_filename, ctx)]
            if (not lib or own) and _any(p in k.__dict__ for p in ctx.protocol):
                got = True
                break
        ctx.types[_id(t)] = got
    return got


def deceptive(r, ctx, depth=0):
    """The class name of a student object with its own protocols in a return value (looked
    for in tuples, lists, dicts and numpy object arrays, 3 levels deep), or None."""
    t = _type(r)
    if t in _PLAIN or depth > 3:
        return None
    if t in (_tuple, _list):
        items = r[:100]
    elif t is _dict:
        items = _list(r.values())[:100]
    elif student_type(t, ctx):
        return t.__qualname__
    else:
        dtype = _getattr(r, "dtype", None) if t.__module__ == "numpy" else None
        if dtype is None or _getattr(dtype, "kind", "") != "O":
            return None
        items = r.ravel()[:100]
    for x in items:
        got = deceptive(x, ctx, depth + 1)
        if got:
            return got
    return None


# ---------------------------------------------------------------- scoring a question
def question_result(tf, at, crashed, violations, scoring):
    """One question's result as the kernel reports it: otter's score of the test file ``tf``
    after its run (0 when the run was interrupted: ``crashed``), its summary and cases, where
    it was graded (``at``) and the ``violations`` seen while its tests ran (the tool's verdict
    gives such a question 0). ``scoring``: otter's ``(score, possible, summary)`` getters,
    bound before any student code. No detection here."""
    score_of, possible_of, summary_of = scoring
    try:
        score, summary = _float(score_of(tf)), summary_of(tf)
    except _BaseException as e:
        score, summary = 0.0, f"could not score: {e!r}"
    if crashed:
        score, summary = 0.0, f"the tests were interrupted by {crashed}"
    cases = [{"name": clip(_str(r.test_case.name), 200), "hidden": _bool(r.test_case.hidden),
              "points": _float(r.test_case.points or 0.0), "passed": r.passed is True,
              "message": clip(_str(r.message or ""), 1500)} for r in tf.test_case_results]
    return {"name": tf.name, "score": score, "possible": _float(possible_of(tf)),
            "summary": clip(_str(summary), 4000), "cases": cases, "graded_at": at,
            "violations": _list(violations)}


# ------------------------------------------------------------------ configuration
# kernel_config.KernelConfig's fields (tests/grading/test_guard_rules.py holds them equal).
CONFIG_KEYS = ("key", "nonce", "tests_dir", "tests", "submission_dir", "watch", "support",
               "support_files", "library_dirs", "bases", "policy", "warmups")


def read_config(sock):
    """The configuration: the first line on the channel (``sock``), JSON, every key there."""
    import json
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("the grading tool closed the channel before sending the configuration")
        buf += chunk
    cfg = json.loads(buf)
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    if missing:
        raise ValueError(f"the guard's configuration lacks {missing}")
    return cfg


def import_watched(cfg):
    """Import what the tests use (``watch``, then ``support``), so that it is snapshotted;
    never from the submission's folder (a numpy.py shipped in a zip must not shadow numpy).
    Returns the names that imported."""
    import sys
    saved_path = _list(sys.path)
    sub_dir = _realpath(cfg["submission_dir"])
    sys.path[:] = [p for p in sys.path if p not in ("", ".") and not _realpath(p).startswith(sub_dir)]
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
    for name in cfg["support"]:  # the autograder's own helper modules (files/)
        try:
            __import__(name)
            loaded.append(name)
        except _BaseException:
            pass
    return loaded


# ------------------------------------------------------------------- entry points
# What student code can reach of the guard: otter's ``Checker.check`` (replaced), the class
# of the watched modules and the wrappers of tested functions. ``__closure__`` and
# ``__globals__`` raise no audit event, so these hold no state and none of this module's
# globals: each only raises an ``acgrade.*`` audit event, which the hook (reachable from
# nowhere) handles, checking that the event came from the entry point itself. ``arm`` runs
# this source in a private table of globals, which every settle checks and restores.
_ENTRY_POINTS = '''
def check(cls, nb_or_test_path, nbmeta_config=None, test_name=None, global_env=None):
    "otter's Checker.check, as the course's grader runs it."
    if global_env is None:
        global_env = _getframe(1).f_globals
    box = []
    _audit("acgrade.check", box, cls, nb_or_test_path, nbmeta_config, test_name, global_env)
    return box[0] if box else None


class GuardedModule(_ModuleType):
    "A watched module: the course's grader sees every assignment to it."
    def __setattr__(self, name, value):
        _audit("acgrade.setattr", self, name, value)
        _mod_setattr(self, name, value)

    def __delattr__(self, name):
        _audit("acgrade.delattr", self, name)
        _mod_delattr(self, name)


def checking(fn):
    def checked(*args, **kwargs):
        out = fn(*args, **kwargs)
        _audit("acgrade.returned", fn, out)
        return out
    return checked
'''


# ------------------------------------------------------------------------- the guard
def arm(cfg_fd=None):
    """Read the configuration, snapshot, install the guard's ``Checker.check``, the guarded
    module class and the audit hook; everything they share lives in this call's closures."""
    import _hashlib
    import _socket
    import copy
    import functools
    import os
    import sys
    import traceback
    import types

    # The channel: a socket inherited from the tool (no address). Its first line is this
    # configuration, key and nonce included; they exist nowhere else in the sandbox.
    fd = _int(cfg_fd if cfg_fd is not None else os.environ.pop("ACGRADE_CHANNEL_FD"))
    os.set_inheritable(fd, False)
    sock = _socket.socket(fileno=fd)
    cfg = read_config(sock)
    pol = cfg["policy"]
    key, nonce = bytes.fromhex(cfg["key"]), cfg["nonce"]
    lib_roots = _tuple(p + os.sep for p in library_roots_here())
    lib_roots += _tuple(_realpath(p) + os.sep for p in cfg["library_dirs"])
    lib_roots += _tuple(_realpath(p) for p in cfg["support_files"])
    loaded = import_watched(cfg)

    from otter.execute import Checker
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file
    from otter.test_files.abstract_test import TestFile

    test_files = [create_test_file(path, NBMetadataConfig()) for path in _sorted(cfg["tests"])]
    by_path = {_realpath(tf.path): tf for tf in test_files}

    _getframe = sys._getframe
    _settrace, _setprofile = sys.settrace, sys.setprofile
    _getswitch, _setswitch = sys.getswitchinterval, sys.setswitchinterval
    _hmac = _hashlib.hmac_digest
    _modules = sys.modules
    _mod_setattr, _mod_delattr = types.ModuleType.__setattr__, types.ModuleType.__delattr__
    _copy = copy.copy
    _run = {_id(tf): _type(tf).run for tf in test_files}
    scoring = (TestFile.score.fget, TestFile.possible.fget, TestFile.summary)
    _update_wrapper = functools.update_wrapper
    _format_exc = traceback.format_exc
    _take, _diff, _restore, _accept = take_snapshot, diff, restore, accept
    _question_result, _namespace_findings, _deceptive = question_result, namespace_findings, deceptive
    _direct, _on_stack, _lib_import, _is_lib = direct_student, student_on_stack, library_import, is_library_file

    watch_roots = _set(n.split(".")[0] for n in loaded)
    strict_names = _set(loaded) | {"builtins"}
    strict_roots = _tuple(pol["strict_roots"])
    builtins_skip = _set(pol["builtins_skip"])
    dunders = _set(pol["watched_dunders"])
    aliases, bases = _dict(pol["aliases"]), _dict(cfg["bases"])
    ctx = make_context(pol, lib_roots, _realpath(cfg["tests_dir"]), _modules, sys.builtin_module_names)
    rules_for = rule_lookup(pol["event_rules"])

    def is_strict(name):
        # Modules the tests name (and policy.STRICT_ROOTS, which do the grading): anything
        # added to them counts. Other loaded submodules of a watched package only count
        # replacements and deletions: libraries add to those lazily.
        return name in strict_names or name.split(".")[0] in strict_roots

    state = {"seq": 0, "busy": False, "finished": False, "current": None,
             "violations": [], "results": {}, "tainted": []}

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

    def violation(reason, block):
        """Report a finding now (tagged with the question whose tests are running, if any)."""
        where = state["current"]
        state["violations"].append((reason, where))
        if where is not None:
            state["tainted"].append(clip(reason, 300))
        emit("violation", {"reason": clip(reason, 300), "question": where})
        if block:
            raise _PermissionError(f"blocked by the course grader: {reason}")

    # ------------------------------------------------------------- entry points
    entry = {"__builtins__": {"__build_class__": __build_class__}, "__name__": "acgrade_guard",
             "_audit": sys.audit, "_getframe": _getframe, "_ModuleType": _ModuleType,
             "_mod_setattr": _mod_setattr, "_mod_delattr": _mod_delattr}
    exec(compile(_ENTRY_POINTS, _realpath(__file__), "exec"), entry)
    entry_orig = _dict(entry)
    GuardedModule, checking = entry["GuardedModule"], entry["checking"]
    entry_codes = {entry["check"].__code__: "acgrade.check", checking(None).__code__: "acgrade.returned",
                   GuardedModule.__setattr__.__code__: "acgrade.setattr",
                   GuardedModule.__delattr__.__code__: "acgrade.delattr"}
    snap = None

    def module_set(raiser, mod, name, value=None, deleted=False):
        """An assignment to (or deletion from) a watched module, seen by GuardedModule."""
        caller = raiser.f_back
        if _direct(caller, ctx):
            violation(f"{'deleted' if deleted else 'assigned'} {mod.__name__}.{name}", True)
        elif not _on_stack(caller, ctx) or _lib_import(caller, ctx):
            state["busy"] = True
            try:
                _accept(snap, mod, name, value, deleted=deleted)
            finally:
                state["busy"] = False

    # ----------------------------------------------- otter's check, the guard's way
    real_check = Checker.__dict__["check"].__func__

    def check(cls, nb_or_test_path, nbmeta_config, test_name, global_env):
        """otter's ``Checker.check``: a question graded at its check cell (the last one counts)."""
        try:
            tf = by_path.get(_realpath(_fspath(nb_or_test_path)))
        except _BaseException:
            tf = None
        if tf is None or test_name is not None:  # not one of the autograder's test files
            return real_check(cls, nb_or_test_path, nbmeta_config, test_name, global_env)
        if state["current"] is not None:
            violation("called grader.check from inside a question's tests", False)
            return _copy(tf)
        if state["finished"]:  # after the grade was sent (an early finish is itself flagged)
            return _copy(tf)
        return grade(tf, global_env, "check cell")

    _type.__setattr__(Checker, "check", _classmethod(entry["check"]))

    for name in watched_module_names(_modules, watch_roots):
        mod = _modules.get(name)
        if _type(mod) is _ModuleType and is_strict(name):
            try:
                mod.__class__ = GuardedModule
            except _BaseException:
                pass

    # Library first uses that change the library itself (policy.WARMUPS), done before
    # the snapshot so that the student's own first use finds them done.
    for root, code in cfg["warmups"]:
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
    for fn in (entry["check"], checking, GuardedModule.__setattr__, GuardedModule.__delattr__):
        add_function(snap, fn)
    snap["classes"][_id(GuardedModule)] = (GuardedModule, _dict(GuardedModule.__dict__), True)
    ctx.watched_ids.update(snap["funcs"])
    ctx.watched_ids.update(snap["classes"])
    ctx.watched_ids.update(_id(m) for m, _, _ in snap["mods"].values())

    # ------------------------------------------------------- return-value check
    def wrap(fn):
        checked = checking(fn)
        try:
            _update_wrapper(checked, fn)
        except _BaseException:
            pass
        return checked

    def returned(fn, out):
        bad = _deceptive(out, ctx)
        if bad:
            violation(f"{_getattr(fn, '__name__', '?')}() returned an object of class {bad}, defined in the "
                      "submission with its own comparison/conversion methods", False)

    # ------------------------------------------------------------ one question
    def settle(suffix=""):
        """Report and undo tampering, and stop tracers, before or after a question runs."""
        state["busy"] = True
        try:
            for reason in _diff(snap, dunders, builtins_skip):
                violation(reason + suffix, False)
            _restore(snap, builtins_skip)
            for name in _list(entry):
                if name not in entry_orig:
                    violation(f"added {name} to the grader's entry points{suffix}", False)
                    del entry[name]
            for name, value in entry_orig.items():
                if entry.get(name, MISSING) is not value:
                    violation(f"replaced the grader's {name}{suffix}", False)
                    entry[name] = value
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
            state["current"], state["tainted"] = tf.name, []
            env = _dict(namespace) if _isinstance(namespace, _dict) else _dict(user_ns)
            # The tests find np, torch, math... in the namespace: those names must be the
            # installed modules, not look-alikes.
            for reason in _namespace_findings(bases.get(tf.name, []), env, aliases, ctx):
                violation(reason, False)
            for k, v in _list(env.items()):
                if _type(v) is _FunctionType and not _is_lib(v.__code__.co_filename, ctx):
                    env[k] = wrap(v)
            crashed = None
            try:
                _run[_id(tf)](tf, env)
            except _BaseException as e:  # SystemExit and friends from student code
                crashed = f"{_type(e).__name__}: {clip(_str(e), 300)}"
            settle(" (while its tests ran)")
            tainted = state["tainted"]
            state["current"] = None
            state["results"][tf.name] = _question_result(tf, at, crashed, tainted, scoring)
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
        ctx.grader_codes.add(fn.__code__)
    ctx.grader_codes.update(entry_codes)

    # ------------------------------------------------------------------ hook
    def internal(event, args, raiser):
        """The guard's own events: the finish cell's, and the entry points' (from them only)."""
        if event == "acgrade.finish":
            finish(args[0] if args else None)
        elif entry_codes.get(raiser.f_code) != event:
            violation(f"raised the grader's own event {event}", False)
        elif event == "acgrade.check":
            args[0].append(check(*args[1:]))
        elif event == "acgrade.setattr":
            module_set(raiser, args[0], args[1], args[2])
        elif event == "acgrade.delattr":
            module_set(raiser, args[0], args[1], deleted=True)
        elif event == "acgrade.returned":
            returned(args[0], args[1])

    def hook(event, args):
        if state["busy"]:
            return
        rules = rules_for(event)
        if rules is None:
            if event[:8] == "acgrade.":
                state["busy"] = True
                try:
                    raiser = _getframe(1)
                finally:
                    state["busy"] = False
                internal(event, args, raiser)
            return
        state["busy"] = True
        try:
            caller = _getframe(1)
            for rule in rules:
                found = rule(event, args, caller, ctx)
                if found is not None:
                    state["busy"] = False
                    violation(found[0], found[1])  # raises PermissionError when it blocks
                    state["busy"] = True
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
