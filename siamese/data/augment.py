"""Training-time augmentation with one strength knob (``augment=light``, ``augment.strength``)."""
from __future__ import annotations

from torchvision.transforms import v2


def affine_jitter(strength: float = 1.0, degrees: float = 10.0, translate: float = 0.08,
                  scale: float = 0.1) -> v2.RandomAffine:
    """A random affine jitter of one image ``(C, H, W)`` scaled by ``strength`` ``s >= 0``:
    rotation uniform in ``±s·degrees``, shift uniform in ``±s·translate`` of the width / height,
    zoom uniform in ``[1 - s·scale, 1 + s·scale]``. Bilinear resampling; ``s = 0`` leaves images unchanged."""
    s = float(strength)
    if not (0 <= s and s * scale < 1):
        raise ValueError(f"augment.strength must be >= 0 and below {1 / scale:g} (zoom {scale} × strength "
                         f"must stay under 1), got {strength}")
    return v2.RandomAffine(degrees=s * degrees, translate=(s * translate, s * translate),
                           scale=(1 - s * scale, 1 + s * scale), interpolation=v2.InterpolationMode.BILINEAR)
