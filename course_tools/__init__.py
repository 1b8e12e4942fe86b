"""Instructor tools of the activation-functions course module.

Never shipped to students: ``python -m course_tools.assign`` (student notebooks
and autograder zips from the masters), ``python -m course_tools.grading`` (grade
a folder of submissions), ``python -m course_tools.release`` (the student
edition) and ``python -m course_tools.bench`` (benchmarks).
"""
