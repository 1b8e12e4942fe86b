"""Written answers for instructors: ``make written`` (``python -m course_tools written``).

``master`` reads the written questions (names, points, prompts, model answers) from the
master notebook; ``build`` renders every submission's answers (PDF per submission, a page
per question) with the students' renderer ``activation_course.written``; ``scores`` writes
the score sheet and merges it into the gradebook (``make grade ... WRITTEN=sheet.csv``).
"""
