"""The student and reader package of the activation-functions course module.

Imported by the book's chapters, the assignment notebooks and the tests:
reference activations computed with torch autograd (:mod:`.reference`), plotting
helpers (:mod:`.plotting`), the book's experiments (:mod:`.experiments`,
:mod:`.stability`), the digits data set (:mod:`.data`) and the training harness
of Assignment 3 (:mod:`.training`), the notebook locator the assignments'
first cell uses (:mod:`.notebook`), and the JupyterHub (nbgitpuller) links of the
book and the edition's README (:mod:`.hub`). It holds no assignment solutions:
derivatives here come from autograd, never from hand-written formulas. The
student edition (``make release``) ships this package whole; the instructor
tools live in ``course_tools``.
"""

__version__ = "0.1.0"
