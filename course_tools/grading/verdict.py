"""The verdict: what the channel and the kernel's run showed, turned into a ``Result``
(status, scores, a one-line message). Pure: no files, no processes.

The guard reports each question as otter scored it, with the violations seen while its
tests ran; a question with any gets 0 here (the guard detects, the verdict grades)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .assignment import Assignment
from .execute import RunReport
from .record import QuestionResult, Result
from ..settings import Limits


@dataclass
class Observation:
    """Everything one sandboxed run produced, as the verdict needs it."""
    submission: str
    notes: list[str]                      # from intake
    shadowing: list[str]                  # shipped files dropped at intake
    messages: list[tuple[str, object]]    # verified channel messages (kind, payload)
    channel_problems: list[str]
    run: RunReport
    timed_out: bool
    log_tail: str = ""
    seconds: float = 0.0
    kernel_pid: int | None = None
    procs_capped: int = 0                 # processes alive when the watchdog stopped a fork bomb
    procs_peak: int = 0                   # the most processes seen at once
    procs_started: int = 0                # processes and threads the sandbox started in all
    sandboxed: bool = True
    extra: dict = field(default_factory=dict)

    def of_kind(self, kind: str) -> list:
        return [p for k, p in self.messages if k == kind]


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def decide(obs: Observation, a: Assignment, limits: Limits) -> Result:
    kinds = [k for k, _ in obs.messages]
    violations = [p for p in obs.of_kind("violation") if isinstance(p, dict)]
    finals = [p for p in obs.of_kind("final") if isinstance(p, dict)]
    guard_errors = obs.of_kind("guard-error")
    reasons = [f"shipped {n}, which would shadow an installed module (dropped)" for n in obs.shadowing]
    reasons += [str(v.get("reason", "?")) for v in violations] + list(obs.channel_problems)
    notes = list(obs.notes)
    run = obs.run
    ems = [e for e in run.cell_errors if isinstance(e, dict)]
    mem_err = any(e.get("ename") == "MemoryError" or "allocate" in str(e.get("evalue", "")).lower()
                  for e in ems)
    if ems:  # each kind of error once, with its first cell
        kinds_seen: dict[str, dict] = {}
        for e in ems:
            kinds_seen.setdefault(str(e.get("ename")), e)
        shown = [f"cell {e.get('cell')}: {k}: {str(e.get('evalue'))[:80]}" for k, e in list(kinds_seen.items())[:4]]
        notes.append(f"{plural(len(ems), 'cell')} raised errors ({'; '.join(shown)}"
                     + (f"; +{len(kinds_seen) - 4} more kinds" if len(kinds_seen) > 4 else "") + ")")
    if "MemoryError" in obs.log_tail and not mem_err:
        mem_err = True
        notes.append("the kernel hit MemoryError outside the student's cells (output too large?)")
    if mem_err:
        notes.append(f"ran out of memory (cap {limits.memory_mb} MiB)")
    if any("No space left on device" in str(e.get("evalue", "")) or "[Errno 28]" in str(e.get("evalue", ""))
           for e in ems):
        notes.append(f"filled its scratch space (the work folder, /tmp and /dev/shm: {limits.disk_mb} MiB each)")
    if any(e.get("ename") == "BlockingIOError" or "Resource temporarily unavailable" in str(e.get("evalue", ""))
           for e in ems):
        notes.append(f"hit the process cap ({limits.max_procs} processes and threads)")
    if obs.procs_peak >= limits.max_procs // 2 and not obs.procs_capped:
        notes.append(f"ran up to {obs.procs_peak} processes at once (cap {limits.max_procs})")
    if obs.procs_started >= 4 * limits.max_procs and not obs.procs_capped:
        notes.append(f"started {obs.procs_started} processes and threads in all")
    if run.output_truncated:
        notes.append(f"output flood: {run.output_truncated / 2**20:.0f} MiB of output dropped")

    scores: dict[str, float] = {}
    questions: list[QuestionResult] = []
    final = finals[0] if finals else None
    if final is not None:
        got = {q.get("name"): q for q in final.get("questions", []) if isinstance(q, dict)}
        if sorted(got) != sorted(a.questions):
            reasons.append("the grader's report does not list the autograder's questions")
        for q in a.questions:
            item = got.get(q, {})
            score = float(item.get("score", 0.0)) if isinstance(item.get("score"), (int, float)) else 0.0
            if item.get("violations"):  # tampering while its tests ran: the question earns nothing
                score = 0.0
            if abs(float(item.get("possible", -1)) - a.max_points[q]) > 1e-9:
                reasons.append(f"the grader's report has wrong points for {q}")
                score = 0.0
            scores[q] = max(0.0, min(score, a.max_points[q]))
            if item:
                qr = QuestionResult.from_dict(item)
                qr.score = scores[q]
                questions.append(qr)
        if len(finals) > 1:
            reasons.append("more than one final report")
        if final.get("violations") != len([k for k in kinds[:kinds.index("final")] if k == "violation"]):
            reasons.append("violation reports went missing")

    if reasons:
        status = "flagged"
        uniq = list(dict.fromkeys(reasons))
        head = "; ".join(uniq[:6]) + (f" (+{len(uniq) - 6} more)" if len(uniq) > 6 else "")
        if final is None or obs.timed_out:
            scores, questions = {}, []
        total = sum(scores.values())
        msg = f"tampering: {head}"
        msg += (f"; tampering neutralised, {total:g}/{a.total_max:g} on the submission's own code"
                if scores else "; no score")
    elif obs.procs_capped:
        status, total, scores, questions = "error", 0.0, {}, []
        msg = (f"stopped a fork bomb: {obs.procs_capped} processes alive (cap {limits.max_procs})"
               + (f", {obs.procs_started} processes and threads started in all" if obs.procs_started else "")
               + "; every process killed")
    elif obs.timed_out:
        status, total, scores, questions = "timeout", 0.0, {}, []
        msg = f"timed out after {limits.timeout:g} s; every process killed"
    elif final is not None:
        status = "graded"
        total = sum(scores.values())
        lost = [f"{q} {scores[q]:g}/{a.max_points[q]:g}" for q in a.questions
                if scores[q] < a.max_points[q] - 1e-9]
        msg = f"{total:g}/{a.total_max:g}" + (f"; lost points on {', '.join(lost)}" if lost else "; all tests passed")
    else:
        status, total, scores, questions = "error", 0.0, {}, []
        if guard_errors:
            msg = "the grader failed inside the kernel: " + str(guard_errors[0]).strip().splitlines()[-1][:200]
        elif run.dead_kernel:
            msg = (f"the kernel died in cell {run.dead_cell if run.dead_cell is not None else '?'} "
                   f"(os._exit, a crash, the {limits.memory_mb} MiB memory cap, the "
                   f"{limits.max_output_mb} MiB file-size cap or the {limits.cpu_seconds} s CPU-time cap)")
        elif run.runner_error:
            msg = "could not execute the notebook: " + run.runner_error.strip().splitlines()[-1][:200]
        elif "armed" not in kinds:
            msg = "the grading kernel did not start: " + (
                obs.log_tail.strip().splitlines()[-1][:200] if obs.log_tail.strip() else "no output")
        else:
            msg = "grading did not finish (the grader sent no report)"
    if not obs.sandboxed:
        notes.append("unsandboxed")
    return Result(submission=obs.submission, status=status, total=round(total, 5), max=a.total_max,
                  message="; ".join([msg] + notes), scores={q: round(s, 5) for q, s in scores.items()},
                  questions=questions, violations=violations, channel_problems=list(obs.channel_problems),
                  notes=notes, runner=run.as_dict(), timed_out=obs.timed_out, seconds=round(obs.seconds, 2),
                  kernel_pid=obs.kernel_pid, log_tail=obs.log_tail[-1500:])
