"""Instructor tools of the activation-functions course module.

Never shipped to students. One entry point, ``python -m course_tools COMMAND`` (``cli``;
exit codes in ``exits``): ``assign`` (student notebooks and autograder zips from the
masters), ``release`` (the student edition), ``grade`` (``grading``: a folder of
submissions to a gradebook), ``written`` (the written answers) and ``bench`` (the
benchmarks). ``settings`` holds the course layout, the torch pin and the limits' defaults;
``processes`` the environment of every process the tools start.
"""
