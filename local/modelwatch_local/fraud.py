"""The demo model: a fraud classifier trained on synthetic card transactions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema

CHANNELS = ("online", "pos", "atm")

FRAUD_SCHEMA = InputSchema(
    features=[
        FeatureSpec(name="amount", type=FeatureType.NUMBER, minimum=0.0, description="Transaction amount"),
        FeatureSpec(name="merchant_risk", type=FeatureType.NUMBER, minimum=0.0, maximum=1.0),
        FeatureSpec(name="hour", type=FeatureType.INTEGER, minimum=0, maximum=23),
        FeatureSpec(name="account_age_days", type=FeatureType.INTEGER, minimum=0),
        FeatureSpec(name="is_foreign", type=FeatureType.BOOLEAN),
        FeatureSpec(name="channel", type=FeatureType.STRING, allowed_values=list(CHANNELS)),
    ]
)


def synthetic_transactions(
    n: int, seed: int = 0, amount_scale: float = 1.0
) -> tuple[list[dict[str, Any]], list[int]]:
    """``n`` transactions and their fraud labels (about 5% fraud).

    ``amount_scale`` multiplies amounts, to make a drifted phase of traffic.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    amount = rng.lognormal(mean=3.5, sigma=1.0, size=n) * amount_scale
    merchant_risk = rng.beta(2, 8, size=n)
    hour = rng.integers(0, 24, size=n)
    age = rng.integers(0, 3650, size=n)
    foreign = rng.random(n) < 0.1
    channel = rng.choice(len(CHANNELS), size=n, p=[0.5, 0.4, 0.1])
    logit = (
        -4.2
        + 0.012 * np.minimum(amount, 400)
        + 3.0 * merchant_risk
        + 1.2 * foreign
        + 0.8 * ((hour < 6) | (hour > 22))
        - 0.0004 * age
        + 0.7 * (channel == 0)
    )
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    rows = [
        {
            "amount": round(float(amount[i]), 2),
            "merchant_risk": round(float(merchant_risk[i]), 4),
            "hour": int(hour[i]),
            "account_age_days": int(age[i]),
            "is_foreign": bool(foreign[i]),
            "channel": CHANNELS[int(channel[i])],
        }
        for i in range(n)
    ]
    return rows, labels.tolist()


def _matrix(rows: list[dict[str, Any]]) -> Any:
    import numpy as np

    names = FRAUD_SCHEMA.feature_names
    return np.array([[row[name] for name in names] for row in rows], dtype=object)


@dataclass(frozen=True)
class TrainedModel:
    estimator: Any
    auc: float
    reference_rows: list[dict[str, Any]]
    reference_predictions: list[float]

    def reference_profile_json(self) -> str:
        """The reference data profile (hold-out features and the model's scores), as JSON."""
        from modelwatch.monitoring.datasets import columns_from_records
        from modelwatch.monitoring.profile import profile_dataset

        columns = columns_from_records(self.reference_rows)
        columns["prediction"] = list(self.reference_predictions)
        return profile_dataset(columns, FRAUD_SCHEMA).model_dump_json()


def train_fraud_model(n: int = 20_000, seed: int = 0, n_estimators: int = 100) -> TrainedModel:
    """Train a gradient-boosted fraud classifier (channel one-hot encoded) and its hold-out AUC."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rows, labels = synthetic_transactions(n, seed=seed)
    matrix = _matrix(rows)
    channel_index = FRAUD_SCHEMA.feature_names.index("channel")
    pipeline = Pipeline(
        [
            (
                "encode",
                ColumnTransformer(
                    [("channel", OneHotEncoder(handle_unknown="ignore"), [channel_index])],
                    remainder="passthrough",
                ),
            ),
            (
                "classify",
                GradientBoostingClassifier(n_estimators=n_estimators, max_depth=3, random_state=seed),
            ),
        ]
    )
    split = int(n * 0.8)
    pipeline.fit(matrix[:split], labels[:split])
    scores = pipeline.predict_proba(matrix[split:])[:, 1]
    auc = float(roc_auc_score(labels[split:], scores))
    return TrainedModel(pipeline, auc, rows[split:], [round(float(p), 6) for p in scores])


def save_model(model: TrainedModel, path: Path) -> Path:
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model.estimator, path)
    return path


class ForeignCardBug:
    """A deliberately broken release of the fraud model, for the demo's rollback.

    It wraps a trained pipeline and raises on every batch holding a foreign-card transaction
    (about one in ten): the kind of bug an encoding change ships with, invisible on the
    schema's example instance (``is_foreign`` false), so the version loads, passes serving's
    load check and is registered like any other. In an ``ab`` or ``canary`` rollout about a
    quarter of the candidate's requests then fail, and the error-rate guardrail rolls it back.
    Pickled by reference: whoever loads it must be able to import ``modelwatch_local`` (the
    local API can; a Lambda function could not, which is fine for a demo artefact).
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        self.classes_ = getattr(estimator, "classes_", None)

    def _check(self, matrix: Any) -> None:
        column = FRAUD_SCHEMA.feature_names.index("is_foreign")
        foreign = sum(1 for value in matrix[:, column] if bool(value))
        if foreign:
            raise ValueError(
                f"is_foreign: found unknown categories [True] in {foreign} row(s) during transform"
            )

    def predict_proba(self, matrix: Any) -> Any:
        self._check(matrix)
        return self.estimator.predict_proba(matrix)

    def predict(self, matrix: Any) -> Any:
        self._check(matrix)
        return self.estimator.predict(matrix)


def break_model(model: TrainedModel) -> TrainedModel:
    """``model`` with :class:`ForeignCardBug` around its estimator (same AUC on domestic cards)."""
    return TrainedModel(
        ForeignCardBug(model.estimator), model.auc, model.reference_rows, model.reference_predictions
    )
