"""Assignment 3 through the real autograder (``otter run`` with the committed zip).

* Every mutant in ``MUTANTS`` (a realistic wrong implementation) loses points on
  its own question, and only there.
* Every rewrite in ``REWRITES`` (correct, written differently from the master
  solution) keeps full marks on every autograded question, the training check
  included.
* The student notebook with the solution cells pasted into its answer cells
  scores full marks, and the points (autograded plus manual) add up to 100.

Grading is slow (an ``otter run`` starts a kernel), so, as for hw1, items are
packed: each graded notebook is the solution notebook (via ``variant``) plus one
appended cell per item. That cell executes the item's code in a copy of the
notebook's globals and re-runs ``grader.check`` for the item's question(s) with
that namespace; otter keeps the last check of a question, and the copy keeps one
item from leaking into another (a broken SwishFunction would otherwise also break
the Swish module's question). Items that target the same question go to
different notebooks; all notebooks are graded in parallel, once per module.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from otter_support import Catalogue, Mutant, Rewrite, max_scores, questions_of, solution_notebook

HW = "hw3"
MASTER = Path(__file__).resolve().parents[2] / "solutions" / HW / f"{HW}.ipynb"
Q1, Q2, Q3, Q4, Q5 = ("q1_swish_function", "q2_swish_module", "q3_mish_function",
                      "q4_prelu_function", "q5_training_matches_reference")
AUTOGRADED = (Q1, Q2, Q3, Q4, Q5)


def whole_rewrite(id: str, style: str, code: str) -> Rewrite:
    """A rewrite of every autograded piece: keeps full marks on every autograded question."""
    return Rewrite(id, AUTOGRADED, style, code)


# --------------------------------------------------------------------------- correct pieces to mutate

SWISH_FUNCTION = '''
class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, beta):
        s = torch.sigmoid(channel_view(beta, z) * z)
        ctx.save_for_backward(z, beta, s)
        return z * s

    @staticmethod
    def backward(ctx, grad_out):
        z, beta, s = ctx.saved_tensors
        b = channel_view(beta, z)
        ds = s * (1 - s)
        grad_z = grad_out * (s + b * z * ds)
        g = grad_out * z * z * ds
        if beta.numel() == 1:
            grad_beta = g.sum().reshape(beta.shape)
        else:
            grad_beta = g.sum(dim=[d for d in range(g.dim()) if d != 1]).reshape(beta.shape)
        return grad_z, grad_beta
'''

SWISH_MODULE = '''
class Swish(nn.Module):
    def __init__(self, beta=1.0, trainable=False):
        super().__init__()
        beta = torch.tensor(float(beta))
        if trainable:
            self.beta = nn.Parameter(beta)
        else:
            self.register_buffer("beta", beta)

    def forward(self, z):
        return SwishFunction.apply(z, self.beta)
'''

MISH = '''
class MishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        t = torch.tanh(F.softplus(z))
        ctx.save_for_backward(z, t)
        return z * t

    @staticmethod
    def backward(ctx, grad_out):
        z, t = ctx.saved_tensors
        return grad_out * (t + z * (1 - t * t) * torch.sigmoid(z))


class Mish(nn.Module):
    def forward(self, z):
        return MishFunction.apply(z)
'''

PRELU = '''
class PReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, a):
        ctx.save_for_backward(z, a)
        return torch.where(z >= 0, z, channel_view(a, z) * z)

    @staticmethod
    def backward(ctx, grad_out):
        z, a = ctx.saved_tensors
        negative = z < 0
        grad_z = torch.where(negative, channel_view(a, z) * grad_out, grad_out)
        g = torch.where(negative, grad_out * z, torch.zeros_like(z))
        if a.numel() == 1:
            grad_a = g.sum().reshape(a.shape)
        else:
            grad_a = g.sum(dim=[d for d in range(g.dim()) if d != 1]).reshape(a.shape)
        return grad_z, grad_a


class PReLU(nn.Module):
    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))

    def forward(self, z):
        return PReLUFunction.apply(z, self.weight)
'''


def mutate(source: str, old: str, new: str) -> str:
    assert source.count(old) == 1, f"mutation anchor not found exactly once: {old!r}"
    return source.replace(old, new)


MUTANTS = [
    Mutant("swish-backward-ignores-grad-out", Q1, "grad_z is the local derivative, not multiplied by grad_out",
           mutate(SWISH_FUNCTION, "grad_z = grad_out * (s + b * z * ds)", "grad_z = s + b * z * ds")),
    Mutant("swish-beta-factor-missing", Q1, "d/dz of sigmoid(beta z) without the inner factor beta",
           mutate(SWISH_FUNCTION, "(s + b * z * ds)", "(s + z * ds)")),
    Mutant("swish-grad-beta-not-reduced", Q1, "grad_beta returned element-wise, not summed to beta's shape",
           mutate(SWISH_FUNCTION, "        if beta.numel() == 1:\n            grad_beta = g.sum().reshape(beta.shape)\n        else:\n            grad_beta = g.sum(dim=[d for d in range(g.dim()) if d != 1]).reshape(beta.shape)\n",
                  "        grad_beta = g\n")),
    Mutant("swish-backward-overflows", Q1, "derivatives through exp(-beta z): inf/inf = nan for large negative z",
           mutate(mutate(SWISH_FUNCTION, "grad_z = grad_out * (s + b * z * ds)",
                         "e = torch.exp(-b * z)\n        grad_z = grad_out * (1 + e + b * z * e) / (1 + e) ** 2"),
                  "g = grad_out * z * z * ds", "g = grad_out * z * z * e / (1 + e) ** 2")),
    Mutant("swish-beta-not-a-parameter", Q2, "beta kept as a plain tensor attribute (neither Parameter nor buffer)",
           mutate(SWISH_MODULE, '''        if trainable:
            self.beta = nn.Parameter(beta)
        else:
            self.register_buffer("beta", beta)''', "        self.beta = beta.requires_grad_(trainable)")),
    Mutant("swish-forward-traced-by-autograd", Q2, "the module computes z * sigmoid(beta z) itself; SwishFunction never runs",
           mutate(SWISH_MODULE, "return SwishFunction.apply(z, self.beta)", "return z * torch.sigmoid(self.beta * z)")),
    Mutant("swish-module-detaches-beta", Q2, "beta detached before SwishFunction.apply: it never learns",
           mutate(SWISH_MODULE, "SwishFunction.apply(z, self.beta)", "SwishFunction.apply(z, self.beta.detach())")),
    Mutant("mish-note-identity-divides-by-z", Q3, "the note's f'(z) = Delta(z) swish(z) + f(z)/z taken literally: 0/0 at z = 0",
           mutate(MISH, "return grad_out * (t + z * (1 - t * t) * torch.sigmoid(z))",
                  "return grad_out * ((1 - t * t) * z * torch.sigmoid(z) + (z * t) / z)")),
    Mutant("mish-paper-formula-overflows", Q3, "f' = e^z omega / delta^2 with e^z, e^2z, e^3z: inf/inf for large z",
           mutate(MISH, "return grad_out * (t + z * (1 - t * t) * torch.sigmoid(z))",
                  "e = torch.exp(z)\n        omega = 4 * (z + 1) + 4 * e ** 2 + e ** 3 + e * (4 * z + 6)\n"
                  "        delta = 2 * e + e ** 2 + 2\n        return grad_out * e * omega / delta ** 2")),
    Mutant("mish-module-bypasses-function", Q3, "Mish() returns F.mish(z): the hand-written backward never runs",
           mutate(MISH, "return MishFunction.apply(z)", "return F.mish(z)")),
    Mutant("prelu-slope-grad-ignores-upstream", Q4, "dL/da sums z over negative positions without the upstream gradient",
           mutate(PRELU, "torch.where(negative, grad_out * z, torch.zeros_like(z))",
                  "torch.where(negative, z, torch.zeros_like(z))")),
    Mutant("prelu-slope-grad-not-per-channel", Q4, "one total gradient copied to every channel's slope",
           mutate(PRELU, "grad_a = g.sum(dim=[d for d in range(g.dim()) if d != 1]).reshape(a.shape)",
                  "grad_a = g.sum().expand(a.shape)")),
    Mutant("prelu-kink-convention", Q4, "derivative a at z = 0, not the note's 1",
           mutate(PRELU, "grad_z = torch.where(negative,", "grad_z = torch.where(z <= 0,")),
    Mutant("prelu-module-ignores-init", Q4, "the slope is always initialised to 0.25",
           mutate(PRELU, "torch.full((num_parameters,), float(init))", "torch.full((num_parameters,), 0.25)")),
]

REWRITES = [
    whole_rewrite("closed-forms-via-output-and-sum-to-size",
            "derivatives written through the output a = f(z), reductions with sum_to_size, "
            "softplus via logaddexp, sech^2 via 1/cosh^2, PReLU via clamp, beta of shape (1,)", '''
def _reduce(g, p, view):
    return g.sum().reshape(p.shape) if p.numel() == 1 else g.sum_to_size(view.shape).reshape(p.shape)


class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, beta):
        a = z * torch.sigmoid(channel_view(beta, z) * z)
        ctx.save_for_backward(z, beta, a)
        return a

    @staticmethod
    def backward(ctx, grad_out):
        z, beta, a = ctx.saved_tensors
        b = channel_view(beta, z)
        s = torch.sigmoid(b * z)
        grad_z = grad_out * (b * a + s * (1 - b * a))
        return grad_z, _reduce(grad_out * z * (a - a * s), beta, b)


class Swish(nn.Module):
    def __init__(self, beta=1.0, trainable=False):
        super().__init__()
        value = torch.tensor([float(beta)])
        if trainable:
            self.register_parameter("beta", nn.Parameter(value))
        else:
            self.register_buffer("beta", value)

    def forward(self, z):
        return SwishFunction.apply(z, self.beta)


class MishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return z * torch.tanh(torch.logaddexp(z, torch.zeros_like(z)))

    @staticmethod
    def backward(ctx, grad_out):
        (z,) = ctx.saved_tensors
        sp = torch.logaddexp(z, torch.zeros_like(z))
        sech2 = 1 / torch.cosh(sp) ** 2
        return grad_out * (torch.tanh(sp) + z * sech2 * torch.sigmoid(z))


class Mish(nn.Module):
    def forward(self, z):
        return MishFunction.apply(z)


class PReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, a):
        ctx.save_for_backward(z, a)
        return z.clamp(min=0) + channel_view(a, z) * z.clamp(max=0)

    @staticmethod
    def backward(ctx, grad_out):
        z, a = ctx.saved_tensors
        av = channel_view(a, z)
        grad_z = torch.where(z >= 0, grad_out, grad_out * av)
        return grad_z, _reduce(grad_out * z.clamp(max=0), a, av)


class PReLU(nn.Module):
    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_parameters).fill_(init))

    def forward(self, z):
        return PReLUFunction.apply(z, self.weight)
'''),
    whole_rewrite("recompute-in-backward-and-guarded-note-identity",
            "only inputs saved, everything recomputed in backward, None for gradients not needed, "
            "Mish through the note's identity with the 0/0 guarded by torch.where, PReLU through masks", '''
def _sum_per_parameter(g, p):
    if p.numel() == 1:
        return g.sum().reshape(p.shape)
    return g.transpose(0, 1).reshape(p.shape[0], -1).sum(dim=1).reshape(p.shape)


class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, beta):
        ctx.save_for_backward(z, beta)
        return z * torch.special.expit(channel_view(beta, z) * z)

    @staticmethod
    def backward(ctx, grad_out):
        z, beta = ctx.saved_tensors
        b = channel_view(beta, z)
        s = torch.special.expit(b * z)
        slope = s * (1 - s)
        grad_z = grad_out * (s + b * z * slope) if ctx.needs_input_grad[0] else None
        grad_beta = _sum_per_parameter(grad_out * z ** 2 * slope, beta) if ctx.needs_input_grad[1] else None
        return grad_z, grad_beta


class Swish(nn.Module):
    def __init__(self, beta=1.0, trainable=False):
        super().__init__()
        if trainable:
            self.beta = nn.Parameter(torch.tensor(beta, dtype=torch.get_default_dtype()))
        else:
            self.register_buffer("beta", torch.tensor(beta, dtype=torch.get_default_dtype()))

    def forward(self, z):
        return SwishFunction.apply(z, self.beta)


class MishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return z * torch.tanh(F.softplus(z))

    @staticmethod
    def backward(ctx, grad_out):
        (z,) = ctx.saved_tensors
        t = torch.tanh(F.softplus(z))
        a = z * t
        swish = z * torch.sigmoid(z)
        f_over_z = torch.where(z != 0, a / torch.where(z != 0, z, torch.ones_like(z)), t)
        return grad_out * ((1 - t ** 2) * swish + f_over_z)


class Mish(nn.Module):
    def forward(self, z):
        return MishFunction.apply(z)


class PReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, a):
        ctx.save_for_backward(z, a)
        return F.relu(z) - channel_view(a, z) * F.relu(-z)

    @staticmethod
    def backward(ctx, grad_out):
        z, a = ctx.saved_tensors
        negative = (z < 0).to(z.dtype)
        grad_z = grad_out * (1 - negative + negative * channel_view(a, z))
        return grad_z, _sum_per_parameter(grad_out * z * negative, a)


class PReLU(nn.Module):
    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.weight = nn.Parameter(init * torch.ones(num_parameters))

    def forward(self, z):
        return PReLUFunction.apply(z, self.weight)
'''),
    whole_rewrite("once-differentiable-and-manual-softplus",
            "@once_differentiable backwards, shapes kept on ctx, softplus with a manual threshold, "
            "einsum reductions", '''
from torch.autograd.function import once_differentiable


def _softplus(z):
    return torch.where(z > 20, z, torch.log1p(torch.exp(z.clamp(max=20))))


def _reduce(g, p):
    if p.numel() == 1:
        return g.sum().reshape(p.shape)
    return torch.einsum("nc...->c", g).reshape(p.shape)


class SwishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, beta):
        bz = channel_view(beta, z) * z
        s = torch.sigmoid(bz)
        ctx.save_for_backward(z, beta, s, bz)
        return z * s

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        z, beta, s, bz = ctx.saved_tensors
        one_minus_s = torch.sigmoid(-bz)
        grad_z = grad_out * s * (1 + bz * one_minus_s)
        return grad_z, _reduce(grad_out * z * z * s * one_minus_s, beta)


class Swish(nn.Module):
    def __init__(self, beta=1.0, trainable=False):
        super().__init__()
        self.trainable = trainable
        b = torch.as_tensor(float(beta))
        if trainable:
            self.beta = nn.Parameter(b, requires_grad=True)
        else:
            self.register_buffer("beta", b, persistent=True)

    def forward(self, z):
        return SwishFunction.apply(z, self.beta)


class MishFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        sp = _softplus(z)
        ctx.save_for_backward(z, sp)
        return z * torch.tanh(sp)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        z, sp = ctx.saved_tensors
        t = torch.tanh(sp)
        return grad_out * t + grad_out * z * (1 - t) * (1 + t) * torch.sigmoid(z)


class Mish(nn.Module):
    def forward(self, z):
        return MishFunction.apply(z)


class PReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, a):
        ctx.save_for_backward(z, a)
        av = channel_view(a, z)
        return torch.maximum(z, torch.zeros_like(z)) + av * torch.minimum(z, torch.zeros_like(z))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        z, a = ctx.saved_tensors
        mask = z < 0
        grad_z = grad_out.clone()
        grad_z[mask] = (grad_out * channel_view(a, z))[mask]
        return grad_z, _reduce(grad_out * z * mask, a)


class PReLU(nn.Module):
    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = nn.Parameter(torch.tensor([float(init)] * num_parameters))

    def forward(self, z):
        return PReLUFunction.apply(z, self.weight)
'''),
]


# --------------------------------------------------------------------------- packing and grading

def manual_points() -> dict[str, float]:
    """Points of the hand-graded questions, read from the master notebook's question configs."""
    nb = json.loads(MASTER.read_text())
    points = {}
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "raw" and src.lstrip().startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(src.split("\n", 1)[1])
            if config.get("manual"):
                points[config["name"]] = float(config["points"])
    return points


CATALOGUE = Catalogue(HW, MUTANTS, REWRITES)
MUTANT_ROUNDS, REWRITE_ROUNDS = CATALOGUE.mutant_rounds, CATALOGUE.rewrite_rounds


@pytest.fixture(scope="module")
def maxima() -> dict[str, float]:
    return max_scores(HW)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict[str, float]]:
    return CATALOGUE.grade(tmp_path_factory.mktemp("hw3-graded"))


def test_catalogue_is_large_and_distinct(maxima):
    assert len(MUTANTS) >= 8 and len(REWRITES) >= 3
    for items in (MUTANTS, REWRITES):
        assert len({i.id for i in items}) == len(items), "duplicate ids"
        assert len({i.code.strip() for i in items}) == len(items), "duplicate code"
    for item in MUTANTS + REWRITES:
        for q in questions_of(item):
            assert q in maxima, f"{item.id}: unknown question {q}"
    assert set(maxima) == set(AUTOGRADED)
    assert {m.question for m in MUTANTS} == set(AUTOGRADED) - {Q5}, "every function question needs a mutant"


def test_points_add_up_to_100(maxima):
    manual = manual_points()
    assert set(manual) == {"q6_comparison_curves", "q7_trainable_beta"}
    assert sum(maxima.values()) + sum(manual.values()) == 100


def test_the_correct_pieces_here_are_the_masters_solution():
    """The mutants start from the master's solution (so each differs from it by one mistake)."""
    nb = nbformat.read(solution_notebook(HW), as_version=4)
    solution = "\n".join(c.source for c in nb.cells if "otter_assign_solution_cell" in c.metadata.get("tags", []))
    for piece in (SWISH_FUNCTION, SWISH_MODULE, MISH, PRELU):
        for line in piece.strip().splitlines():
            # the master names the reduction axes in a separate line; otherwise line for line
            if line.strip() and "sum(dim=[d for d" not in line:
                assert line.strip() in solution, f"{line.strip()!r} is not in the master's solution"


def test_autograder_is_self_contained_and_skips_the_comparison():
    """Gradescope gets only the zip: its tests and the graded cells must not need the course package."""
    import zipfile

    from otter_support import autograder_zip

    with zipfile.ZipFile(autograder_zip(HW)) as z:
        tests = {n: z.read(n).decode() for n in z.namelist() if n.startswith("tests/")}
    assert sorted(tests) == sorted(f"tests/{q}.py" for q in AUTOGRADED)
    for name, text in tests.items():
        assert "activation_course" not in text, f"{name} imports the course package"
        assert '"hidden": True' in text or "'hidden': True" in text, f"{name} has no hidden test"
    nb = nbformat.read(solution_notebook(HW), as_version=4)
    graded_cells = [c.source for c in nb.cells if c.cell_type == "code" and "otter_ignore" not in c.metadata.get("tags", [])]
    # The first cell may try the course's Notebook: it falls back to otter's where the package is missing.
    guarded = "try:\n    from activation_course.notebook import Notebook\nexcept ImportError:\n    from otter import Notebook\n"
    assert not [c for c in graded_cells if "activation_course" in c.replace(guarded, "")], \
        "a graded cell imports activation_course"
    ignored = [c.source for c in nb.cells if "otter_ignore" in c.metadata.get("tags", [])]
    assert any("compare(" in c for c in ignored) and any("plot_comparison(" in c for c in ignored)


@pytest.mark.slow
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_loses_points_on_its_question(graded, maxima, mutant):
    score = CATALOGUE.mutant_score(graded, mutant)
    assert score < maxima[mutant.question], f"{mutant.id} ({mutant.mistake}) kept full marks on {mutant.question}"


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(MUTANT_ROUNDS)))
def test_questions_without_a_mutant_keep_full_marks(graded, maxima, i):
    lost = CATALOGUE.lost_elsewhere(graded, maxima, i)
    assert not lost, f"questions no mutant targets lost points: {lost}"


@pytest.mark.slow
@pytest.mark.parametrize("rewrite", REWRITES, ids=[r.id for r in REWRITES])
def test_rewrite_keeps_full_marks(graded, maxima, rewrite):
    lost = CATALOGUE.rewrite_lost(graded, maxima, rewrite)
    assert not lost, f"{rewrite.id} ({rewrite.style}) is correct but lost points: {lost}"


@pytest.mark.slow
def test_pasted_student_notebook_gets_every_autograded_point(graded, maxima):
    assert graded["pasted-student"] == pytest.approx(maxima)
