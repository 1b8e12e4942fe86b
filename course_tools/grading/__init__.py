"""Instructor grading: a folder of submissions to a gradebook, robust to broken and
adversarial work. Entry point: ``python -m course_tools.grading --help``.

Modules: ``cli`` (command line, progress, ``--docker``), ``core`` (intake, one
sandboxed run per submission, verdicts, gradebook), ``runner`` (executes one
notebook with otter's grading cells), ``guard`` (inside the kernel: tamper
detection and the grade itself).
"""
