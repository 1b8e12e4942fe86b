"""``python -m course_tools COMMAND``: see ``course_tools.cli``."""
from .cli import main

raise SystemExit(main())
