"""The one device resolver of the course: what ``device="auto"`` means, said once.

Every function in :mod:`activation_course` that takes a ``device`` argument (the
training harness of Assignment 3, the book's experiments and the stability
chapter's code) passes it through :func:`resolve_device`, so ``"auto"`` picks the
same backend everywhere.
"""
from __future__ import annotations

import torch

__all__ = ["resolve_device"]

_DOUBLE = (torch.float64, torch.complex128)


def resolve_device(device: str | torch.device = "auto", dtype: torch.dtype | None = None) -> torch.device:
    """The device to compute on.

    ``"auto"`` picks CUDA when available, then Apple's MPS, then the CPU. MPS has no
    ``float64``, so when the caller says it computes in ``float64`` (``dtype``),
    ``"auto"`` skips MPS and falls back to the CPU: the book's experiments and the
    stability chapter work in ``float64`` and get the CPU on a Mac, while the
    training harness (``float32``) gets the Mac's GPU. Anything else (``"cpu"``,
    ``"cuda"``, ``"cuda:1"``, ``"mps"``, a ``torch.device``) is checked: asking for
    a backend that is not available, or ``"mps"`` with ``float64``, raises an error
    saying so, instead of failing later inside a kernel.

    Args:
        device: ``"auto"`` (any case), a device string or a ``torch.device``.
        dtype: the floating dtype the caller will compute in, or ``None`` (unknown:
            treated as ``float32``).

    Returns:
        The ``torch.device`` to use.

    Raises:
        ValueError: ``device`` is not a device name, or is MPS with ``float64``.
        RuntimeError: the requested backend is not available on this machine.
    """
    double = dtype in _DOUBLE
    if isinstance(device, str) and device.strip().lower() == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if not double and _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'mps' or a torch.device, got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available here; use device='auto' or 'cpu'")
    if dev.type == "mps":
        if not _mps_available():
            raise RuntimeError(f"device {device!r} requested but MPS is not available here; use device='auto' or 'cpu'")
        if double:
            raise ValueError(f"device {device!r} cannot compute in {dtype} (MPS has no float64); "
                             "use device='auto' or 'cpu'")
    return dev


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())
