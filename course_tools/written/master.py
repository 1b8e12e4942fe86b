"""The written (``manual: true``) questions of an assignment, read from its master notebook.

The master is the one place their names and points are written (the autograder zip
holds only the autograded questions); their prompts and model answers come from it
too. Blocks are recognised with otter assign's own parsers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..settings import Course, course
from ..grading.assignment import ToolError


class MasterError(ToolError):
    """The master notebook is missing or its written questions cannot be read."""


@dataclass
class MasterQuestion:
    name: str
    points: float
    title: str                                   # the prompt's first heading, as students see it
    prompt: list = field(default_factory=list)   # markdown/code cells (nbformat nodes)
    model: list = field(default_factory=list)    # the solution block's cells: the model answer


def master_path(hw: str, where: Course | None = None) -> Path:
    return (where or course()).master(hw)


def written_questions(hw: str, where: Course | None = None) -> list[MasterQuestion]:
    """The master's manual questions in notebook order (empty for an assignment without any)."""
    import nbformat
    from otter.assign.blocks import BlockType, get_cell_config, is_block_boundary_cell
    from otter.assign.question_config import QuestionConfig

    from activation_course.written import _title

    path = master_path(hw, where)
    if not path.is_file():
        raise MasterError(f"no master notebook at {path} (the written questions' points are read from it)")
    nb = nbformat.read(path, as_version=4)
    found: list[MasterQuestion] = []
    current, part = None, None
    for cell in nb.cells:
        if is_block_boundary_cell(cell, BlockType.QUESTION):
            config = QuestionConfig(get_cell_config(cell))
            current = None
            if config.manual:
                if config.points is None:
                    raise MasterError(f"{path.name}: written question {config.name} states no points")
                current = MasterQuestion(name=config.name, points=float(config.points), title="")
                found.append(current)
                part = "prompt"
            continue
        if current is None:
            continue
        if is_block_boundary_cell(cell, BlockType.QUESTION, end=True):
            current = None
        elif is_block_boundary_cell(cell, BlockType.SOLUTION):
            part = "model"
        elif is_block_boundary_cell(cell, BlockType.SOLUTION, end=True):
            part = None
        elif cell.cell_type == "raw":
            part = None   # a TESTS or PROMPT block: nothing a written page shows
        elif part == "prompt":
            current.prompt.append(cell)
            if not current.title and cell.cell_type == "markdown":
                current.title = _title(cell.source)
        elif part == "model":
            current.model.append(cell)
    return found
