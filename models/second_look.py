"""A second look at a digit the network is unsure of: the same form turned a little either way.

A digit written on a turned sheet, or slanted more than MNIST's writers slant, can leave the network
unsure. When the top calibrated probability is below `UNSURE`, the network also reads the form
turned by each of `ANGLES` about its centre of mass, and the answer is the mean of the five
probability vectors. Sure answers (about 99 % of MNIST) cost nothing more.

Chosen on validation only (docs/UPLOADS.md), with model 2.2.0: on the 10,000 MNIST validation forms
34 -> 30 wrong, on the 3,900 validation uploads 29 -> 25 (their turned sheets 96.3 % -> 97.3 %).
Training's card and the service both answer through here, so the card reports what is served.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from models.features import IMAGE_SIZE

ANGLES = (-20.0, -10.0, 10.0, 20.0)  # degrees, about the form's centre of mass
UNSURE = 0.8  # a top probability below this gets the second look


def unsure(probs: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Indices of the rows of (N, 10) calibrated probabilities whose top one is below UNSURE."""
    return np.flatnonzero(probs.max(axis=1) < UNSURE)


def turned(form: npt.NDArray[np.uint8], angle_deg: float) -> npt.NDArray[np.uint8]:
    """A 28x28 form turned by `angle_deg` about its centre of mass (bilinear; outside is 0)."""
    pixels = form.astype(np.float32)
    total = float(pixels.sum())
    if total > 0:
        rows, cols = np.indices(pixels.shape, dtype=np.float32)
        centre = np.array([(rows * pixels).sum() / total, (cols * pixels).sum() / total])
    else:
        centre = np.full(2, (IMAGE_SIZE - 1) / 2)
    a = math.radians(angle_deg)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    out = ndimage.affine_transform(pixels, rotation, offset=centre - rotation @ centre, order=1, cval=0.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def views(forms: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """(N, 28, 28) -> (N * len(ANGLES), 28, 28): each form's turned views, form by form."""
    return np.stack([turned(form, angle) for form in forms for angle in ANGLES])


def combine(
    probs: npt.NDArray[np.float64], rows: npt.NDArray[np.intp], view_probs: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """`probs` with each of `rows` replaced by the mean of it and its views' probabilities (a copy)."""
    out = probs.copy()
    per_view = view_probs.reshape(len(rows), len(ANGLES), -1)
    out[rows] = (probs[rows] + per_view.sum(axis=1)) / (1 + len(ANGLES))
    return out
