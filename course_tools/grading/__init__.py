"""Instructor grading: a folder of submissions to a gradebook, graded where Gradescope
grades, robust to broken and adversarial work. Entry point: ``python -m course_tools grade --help``.

The pipeline, one module per step:

* ``assignment`` -- the autograder zip: questions, points (the one reader), what the tests use;
* ``environment`` -- the grading environment built from the zip's environment.yml (cached),
  and a kernel's short fixed environment;
* ``intake`` -- find submissions, check them without running anything;
* ``bwrap`` -- the bubblewrap command line a kernel runs under, and the probe that refuses
  (with the fix) where no sandbox can be made;
* ``sandbox`` -- the kernel's spawn spec, limits, watchdog and cleanup;
* ``execute`` -- otter's grading cells around the notebook, run by nbclient in the sandbox;
* ``guard`` -- inside the kernel: tamper detection and the grade itself (policy in ``policy``);
* ``channel`` -- the guard's configuration and signed messages (an inherited socket pair);
* ``verdict`` -- status, scores and message, as a ``record.Result``;
* ``store`` -- JSON, feedback, the gradebook CSV, resuming, the class summary;
* ``pipeline`` -- one submission and a batch; ``cli`` -- the ``grade`` command and ``--docker``.
"""
