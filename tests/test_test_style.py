"""One test style in every master (CONTRIBUTING.md, section 2): each test cell is an OK-format
cell with ``points:`` and ``hidden:``, and a body of one import from the assignment's helper
and calls of what it imports. Public cells call ``<hw>_checks`` (shipped to students and in
the zip: the master's ``files:``), hidden cells ``<hw>_oracle`` (the zip only:
``autograder_files:``). Found from ``solutions/*/``, so a new assignment is held to it too.
"""
from __future__ import annotations

import json

import pytest
import yaml

from check_cells import cells_of, parse
from course_tools.assign import masters

HWS = sorted(masters())


def _config(hw: str) -> dict:
    cell = json.loads(masters()[hw].read_text())["cells"][0]
    return yaml.safe_load("".join(cell["source"]).split("\n", 1)[1]) or {}


@pytest.mark.parametrize("hw", HWS)
def test_every_test_cell_is_a_short_call_into_its_helper(hw):
    cells = cells_of(hw)
    assert cells, f"{hw} has no test cells"
    for question, index, src in cells:
        call = parse(question, index, src)  # raises, naming the cell, when it is written otherwise
        want = f"{hw}_oracle" if call.hidden else f"{hw}_checks"
        assert call.module == want, f"{hw} {question}, cell {index}: a {'hidden' if call.hidden else 'public'} case calls {call.module}, not {want}"
        assert len(call.body.splitlines()) <= 7, f"{hw} {question}, cell {index}: more than six calls; give the helper one check"


@pytest.mark.parametrize("hw", HWS)
def test_helpers_ship_where_their_cases_run(hw):
    config = _config(hw)
    folder = masters()[hw].parent
    assert f"{hw}_checks.py" in (config.get("files") or []), f"{hw}: its public helper must be in `files:` (students run it)"
    assert f"{hw}_oracle.py" in (config.get("autograder_files") or []), f"{hw}: its oracle must be in `autograder_files:`"
    assert f"{hw}_oracle.py" not in (config.get("files") or []), f"{hw}: the oracle must not ship to students"
    assert (folder / f"{hw}_checks.py").is_file() and (folder / f"{hw}_oracle.py").is_file()


@pytest.mark.parametrize("src, complaint", [
    ('x = 1\nassert x', "no TEST CONFIG"),
    ('""" # BEGIN TEST CONFIG\npoints: 2\n""" # END TEST CONFIG\nfrom hw9_checks import f\nf(g)', "both `points:` and `hidden:`"),
    ('""" # BEGIN TEST CONFIG\npoints: 2\nhidden: false\n""" # END TEST CONFIG\nassert g(1) == 2', "not one import"),
    ('""" # BEGIN TEST CONFIG\npoints: 2\nhidden: true\n""" # END TEST CONFIG\nfrom hw9_oracle import f\nf(g)\nassert g(0) == 0', "not one import"),
    ('""" # BEGIN TEST CONFIG\npoints: 2\nhidden: true\n""" # END TEST CONFIG\nfrom hw9_oracle import f\nh(g)', "not one import"),
])
def test_the_reader_refuses_other_styles_naming_the_cell(src, complaint):
    with pytest.raises(ValueError, match="q1_x, cell 7") as e:
        parse("q1_x", 7, src)
    assert complaint in str(e.value)
