"""Classification losses on the embeddings: softmax, multi-class hinge, L-Softmax and A-Softmax.

Each owns a class-weight matrix ``W (K, D)`` (``K`` classes of the data, ``D`` the embedding size),
created when the module binds the loss to the tower and the data (``bind(tower, num_classes=K)``). It is a
parameter of the loss, hence of the ``SiameseModule``: in the optimizer and in the checkpoint.
Inputs are ``x (M, D)``, the ``M = 2N`` model embeddings of a batch, and their class ids.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from siamese.checks import one_of, positive
from siamese.losses.base import ClassIdLoss


class ClassifierLoss(ClassIdLoss):
    """Base: a ``(K, D)`` weight matrix (and optionally a bias) made at bind time."""

    use_bias = False

    def make_parameters(self, embedding_dim: int, num_classes: int | None) -> None:
        if num_classes is None:
            raise ValueError(f"loss {type(self).__name__} needs the number of classes: bind(tower, num_classes=K)")
        if num_classes < 2:
            raise ValueError(f"loss {type(self).__name__} needs at least 2 classes, the data has {num_classes}")
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # torch.nn.Linear's initialisation
        if self.use_bias:
            self.bias = nn.Parameter(torch.zeros(num_classes))

    def compute_batch(self, x, labels):
        if not hasattr(self, "weight"):
            raise RuntimeError(f"{type(self).__name__}.bind(tower, num_classes=K) must be called first")
        if labels.max() >= self.weight.shape[0]:
            raise ValueError(f"class id {int(labels.max())} but the loss was built for {self.weight.shape[0]} classes")
        return self.classify(x, labels)

    def classify(self, x: Tensor, labels: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError


class SoftmaxLoss(ClassifierLoss):
    """Softmax cross-entropy, the classification baseline: ``L = 1/M Σᵢ −log softmax(W xᵢ + b)_{cᵢ}``."""

    def __init__(self, bias: bool = True):
        super().__init__()
        self.use_bias = bool(bias)

    def classify(self, x, labels):
        logits = F.linear(x, self.weight, self.bias if self.use_bias else None)
        return {"loss": F.cross_entropy(logits, labels),
                "accuracy": (logits.argmax(dim=1) == labels).float().mean()}


class MultiClassHingeLoss(ClassifierLoss):
    """Multi-class hinge losses on ``s = W x`` (``K`` class scores), ``p ∈ {1, 2}`` (squared hinge).

    ``form: one_vs_rest`` (default), with ``σ(c, j) = +1`` if ``j = c`` else ``−1``::

        L = 1/M Σᵢ Σ_{j=1..K} [max(0, 1 − σ(cᵢ, j)·wⱼᵀxᵢ)]^p

    (the seed writes the inner sum to ``N``; it runs over the ``K`` classes, ``w`` indexed by class).
    ``form: weston_watkins`` — ``L = 1/M Σᵢ 1/K Σ_{j≠cᵢ} [max(0, margin − s_{cᵢ} + s_j)]^p``, exactly
    ``torch.nn.MultiMarginLoss``. ``form: crammer_singer`` —
    ``L = 1/M Σᵢ [max(0, margin − s_{cᵢ} + max_{j≠cᵢ} s_j)]^p``.
    """

    FORMS = ("one_vs_rest", "weston_watkins", "crammer_singer")

    def __init__(self, p: int = 1, form: str = "one_vs_rest", margin: float = 1.0):
        super().__init__()
        if int(p) not in (1, 2):
            raise ValueError(f"loss.p must be 1 or 2, got {p}")
        if form not in self.FORMS:
            raise ValueError(f"loss.form must be one of {list(self.FORMS)}, got {form!r}")
        self.p, self.form = int(p), form
        self.margin = positive("loss.margin", margin)

    def classify(self, x, labels):
        s = F.linear(x, self.weight)                                      # (M, K)
        target = F.one_hot(labels, s.shape[1]).bool()
        if self.form == "one_vs_rest":
            sigma = target.float() * 2 - 1
            loss = torch.clamp(1 - sigma * s, min=0).pow(self.p).sum(dim=1).mean()
        else:
            s_true = s[target].unsqueeze(1)                               # (M, 1)
            violation = torch.clamp(self.margin - s_true + s, min=0).pow(self.p).masked_fill(target, 0)
            per_sample = (violation.sum(dim=1) / s.shape[1] if self.form == "weston_watkins"
                          else violation.amax(dim=1))
            loss = per_sample.mean()
        return {"loss": loss, "accuracy": (s.argmax(dim=1) == labels).float().mean()}


def cos_m_theta(cos: Tensor, m: int) -> Tensor:
    """``cos(mθ)`` from ``cos θ`` by the multiple-angle formula (no ``acos``)::

        cos(mθ) = Σ_{n=0..⌊m/2⌋} (−1)ⁿ C(m, 2n) cos^{m−2n}θ (1 − cos²θ)ⁿ
    """
    sin2 = 1 - cos * cos
    return sum((-1) ** n * math.comb(m, 2 * n) * cos ** (m - 2 * n) * sin2 ** n for n in range(m // 2 + 1))


def psi(cos: Tensor, m: int) -> Tensor:
    """``ψ(θ) = (−1)ᵏ cos(mθ) − 2k`` for ``θ ∈ [kπ/m, (k+1)π/m]``, ``k ∈ 0..m−1``, from ``cos θ``.

    ``k`` counts the boundaries ``jπ/m`` (``j = 1..m−1``) that ``θ`` has passed, i.e. those with
    ``cos θ ≤ cos(jπ/m)``; it is piecewise constant, so it carries no gradient. ``ψ`` is monotone
    decreasing in ``θ`` on ``[0, π]`` and equals ``cos θ`` when ``m = 1``.
    """
    with torch.no_grad():
        bounds = torch.tensor([math.cos(j * math.pi / m) for j in range(1, m)], dtype=cos.dtype, device=cos.device)
        k = (cos.unsqueeze(-1) <= bounds).sum(dim=-1).to(cos.dtype)
    return (1 - 2 * (k % 2)) * cos_m_theta(cos, m) - 2 * k


class AngularMarginSoftmaxLoss(ClassifierLoss):
    """L-Softmax (Liu, Wen, Yu & Yang, ICML 2016); with ``normalize_weights`` A-Softmax (SphereFace,
    Liu et al., CVPR 2017).

    For sample ``x`` of class ``c``, with ``θⱼ`` the angle between ``x`` and ``wⱼ``, logits::

        f_c = (λ·‖w_c‖‖x‖cos θ_c + ‖w_c‖‖x‖ψ(θ_c)) / (1 + λ)        (the target class)
        f_j = ‖wⱼ‖‖x‖cos θⱼ = wⱼᵀx                                   (j ≠ c)
        L   = 1/M Σ −log softmax(f)_c

    (the seed writes ``‖w_c‖`` in the other classes' terms; each class uses its own ``‖wⱼ‖``.)
    A-Softmax normalises ``wⱼ`` to unit norm (``‖wⱼ‖ = 1``) and has no bias. ``λ`` anneals with the
    training iteration ``t`` (counted by the loss in training mode)::

        λ = max(λ_min, base·(1 + γ·t)^(−power))

    ``schedule`` names a published schedule: ``sphereface`` (``base 1000, γ 0.12, power 1``, the
    default) or ``lsoftmax`` (the L-Softmax paper's, ``base 1000, γ 2.5e-5, power 35``); ``None`` uses
    ``base``, ``gamma``, ``power`` as given. ``m = 1`` gives plain softmax (without bias) whatever ``λ``.

    ``scale``: the model embeddings are unit vectors, so ``‖x‖ = 1`` bounds every logit by ``‖w‖`` (with
    A-Softmax's unit weights, by 1: the loss cannot approach 0). With ``scale = s`` the feature is
    ``s·x̂`` — the role the paper gives the unnormalised feature's norm — so the logits reach ``±s``.
    """

    SCHEDULES = {"sphereface": (1000.0, 0.12, 1.0), "lsoftmax": (1000.0, 2.5e-5, 35.0)}

    def __init__(self, m: int = 4, normalize_weights: bool = False, base: float = 1000.0,
                 gamma: float = 0.12, power: float = 1.0, lambda_min: float = 0.0, schedule: str | None = None,
                 scale: float | None = None):
        super().__init__()
        if schedule is not None:
            base, gamma, power = self.SCHEDULES[one_of("loss.schedule", schedule, self.SCHEDULES)]
        self.scale = None if scale is None else positive("loss.scale", scale)
        if isinstance(m, bool) or int(m) != m or int(m) < 1:
            raise ValueError(f"loss.m must be an integer >= 1, got {m}")
        for key, value in (("loss.base", base), ("loss.gamma", gamma), ("loss.power", power),
                           ("loss.lambda_min", lambda_min)):
            if float(value) < 0:
                raise ValueError(f"{key} must be >= 0, got {value}")
        self.m, self.normalize_weights = int(m), bool(normalize_weights)
        self.base, self.gamma, self.power, self.lambda_min = float(base), float(gamma), float(power), float(lambda_min)
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def annealing_lambda(self, iteration: int) -> float:
        return max(self.lambda_min, self.base * (1 + self.gamma * iteration) ** (-self.power))

    def classify(self, x, labels):
        if self.scale is not None:
            x = self.scale * F.normalize(x, dim=1)
        w = F.normalize(self.weight, dim=1) if self.normalize_weights else self.weight
        logits = F.linear(x, w)                                             # ‖wⱼ‖‖x‖cos θⱼ  (M, K)
        norms = w.norm(dim=1).unsqueeze(0) * x.norm(dim=1, keepdim=True)  # ‖wⱼ‖‖x‖        (M, K)
        rows = torch.arange(len(labels), device=x.device)
        target_norm = norms[rows, labels].clamp_min(1e-12)
        cos = (logits[rows, labels] / target_norm).clamp(-1, 1)
        lam = self.annealing_lambda(int(self.iteration))
        target = target_norm * (lam * cos + psi(cos, self.m)) / (1 + lam)
        logits = logits.index_put((rows, labels), target)
        if self.training:
            self.iteration += 1
        return {"loss": F.cross_entropy(logits, labels), "lambda": torch.tensor(lam),
                "accuracy": (logits.argmax(dim=1) == labels).float().mean()}


class LSoftmaxLoss(AngularMarginSoftmaxLoss):
    """L-Softmax: ``AngularMarginSoftmaxLoss`` with free-norm weights (see there)."""

    def __init__(self, m: int = 4, base: float = 1000.0, gamma: float = 0.12, power: float = 1.0,
                 lambda_min: float = 0.0, schedule: str | None = None, scale: float | None = None):
        super().__init__(m, False, base, gamma, power, lambda_min, schedule, scale)


class ASoftmaxLoss(AngularMarginSoftmaxLoss):
    """A-Softmax (SphereFace): ``AngularMarginSoftmaxLoss`` with unit-norm weights (see there)."""

    def __init__(self, m: int = 4, base: float = 1000.0, gamma: float = 0.12, power: float = 1.0,
                 lambda_min: float = 5.0, schedule: str | None = None, scale: float | None = None):
        super().__init__(m, True, base, gamma, power, lambda_min, schedule, scale)
