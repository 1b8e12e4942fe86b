"""Shared pytest set-up: the tests folder is importable (otter_support etc.)."""
import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
os.environ.setdefault("MPLBACKEND", "Agg")
