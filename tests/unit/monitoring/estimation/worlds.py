"""Seeded worlds for the CBPE tests: features, true probabilities, model scores and labels drawn from them.

In every world the label is drawn from the true probability, so a model that outputs the true
probability is calibrated by construction; a covariate shift moves the features and keeps
P(label | features), which is the case CBPE is for; ``overconfident`` breaks calibration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

CLASSES = ["a", "b", "c"]
_WEIGHTS = np.array([[1.6, -0.8, -0.8], [0.0, 1.4, -1.4]])
_BIAS = np.array([0.2, 0.0, -0.2])


def sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-z))


def overconfident(p: Any, power: float = 2.5) -> Any:
    """A miscalibrated model: the true probability pushed away from 0.5 on the logit scale."""
    return sigmoid(power * np.log(p / (1.0 - p)))


def binary_world(rng: np.random.Generator, n: int, mean: float = 0.0, scale: float = 1.5) -> tuple[Any, Any]:
    """True P(positive) of ``n`` rows with a feature ~ N(mean, scale), and labels drawn from it."""
    x = rng.normal(mean, scale, n)
    p = np.clip(sigmoid(1.5 * x - 0.5), 1e-9, 1 - 1e-9)
    return p, (rng.random(n) < p).astype(np.int64)


def multiclass_world(
    rng: np.random.Generator, n: int, mean: tuple[float, float] = (0.0, 0.0), scale: float = 1.5
) -> tuple[Any, Any]:
    """True class probabilities (softmax of a linear model of two features) and labels drawn from them."""
    x = rng.normal(np.asarray(mean), scale, (n, 2))
    logits = x @ _WEIGHTS + _BIAS
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return p, np.minimum(labels, len(CLASSES) - 1)


def roc_auc(labels: Any, scores: Any) -> float | None:
    """Mann-Whitney AUC, tied scores sharing their average rank (as ``monitoring.performance.roc_auc``)."""
    positives = labels == 1
    n_pos = int(positives.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    u = float(rankdata(scores)[positives].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def binary_realized(scores: Any, labels: Any, threshold: float = 0.5) -> dict[str, float | None]:
    """The realized metrics on the rows themselves (exact scores, not bins)."""
    predicted = scores >= threshold
    tp = float((predicted & (labels == 1)).sum())
    fp = float((predicted & (labels == 0)).sum())
    fn = float((~predicted & (labels == 1)).sum())
    return {
        "accuracy": float((predicted == (labels == 1)).mean()),
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        "roc_auc": roc_auc(labels, scores),
    }


def multiclass_realized(probabilities: Any, labels: Any) -> dict[str, float | None]:
    """Accuracy and macro one-vs-rest precision, recall, F1 and ROC AUC on the rows themselves."""
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, auc = [], [], [], []
    for c in range(probabilities.shape[1]):
        tp = float(((predicted == c) & (labels == c)).sum())
        fp = float(((predicted == c) & (labels != c)).sum())
        fn = float(((predicted != c) & (labels == c)).sum())
        precision.append(tp / (tp + fp) if tp + fp else 0.0)
        recall.append(tp / (tp + fn) if tp + fn else 0.0)
        f1.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        class_auc = roc_auc((labels == c).astype(int), probabilities[:, c])
        if class_auc is not None:
            auc.append(class_auc)
    return {
        "accuracy": float((predicted == labels).mean()),
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
        "f1": float(np.mean(f1)),
        "roc_auc": float(np.mean(auc)) if auc else None,
    }
