"""Shared code for the activation-functions course module.

Imported by the book's chapters, the assignment notebooks and the tests:
reference activations computed with torch autograd (:mod:`.reference`), plotting
helpers (:mod:`.plotting`), the digits data set and the training harness of
Assignment 3, and the instructor tools (``python -m activation_course.assign``,
the grading command). It holds no assignment solutions: derivatives here come
from autograd, never from hand-written formulas.
"""

__version__ = "0.1.0"
