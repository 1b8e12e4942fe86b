"""``make bench`` (``python -m course_tools bench``): measure what instructors, students and
authors wait for, and write ``bench/results.md`` (and its JSON) from the measurements.

One module per benchmark, each a function returning table rows:

* ``grading``: one correct submission through ``grade`` and through the anchor,
  ``otter run -a <zip>``, side by side in paired rounds; the tool without its sandbox;
  the notebook's own work in a plain kernel; a batch with JOBS=1 and JOBS=2;
* ``training``: Assignment 3's comparison (its factories, seeds and epochs are read from
  the master's own comparison cell), per run and whole, per device;
* ``book``: cold and cached ``jupyter-book build`` and each chapter's execution time;
* ``activations``: the course's numpy reference forward+derivative against torch's
  built-ins and a plain copy's memory bound; Assignment 3's autograd Functions against
  ``F.silu``/``F.mish``.

``measure`` holds the timing helpers (medians after a warm-up, paired rounds, CPU time) and
reads the reference implementations from the generated solution notebooks at run time
(this package holds no solution code); ``report`` turns the results into the Markdown
report, its targets table and its notes (written from the measured numbers); ``runner``
is the command. ``--smoke`` runs every section with tiny sizes (the test suite uses it to
keep this code working); its numbers mean nothing.
"""
