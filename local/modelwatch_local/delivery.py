"""The demo's second model: a delivery-time regression, published while the stack runs.

It shows that models are data: no function, stream, route or schedule of its own; publishing its
manifest is all it takes for the running API to serve it and for its events to land under
``events/model=delivery_time/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.registry.publishing import publish_model
from modelwatch.stores.objects import ObjectStorage

DELIVERY_MODEL = "delivery_time"
WEATHER = ("clear", "rain", "snow")

DELIVERY_SCHEMA = InputSchema(
    features=[
        FeatureSpec(name="distance_km", type=FeatureType.NUMBER, minimum=0.0, maximum=100.0),
        FeatureSpec(name="items", type=FeatureType.INTEGER, minimum=1, maximum=50),
        FeatureSpec(name="hour", type=FeatureType.INTEGER, minimum=0, maximum=23),
        FeatureSpec(name="weather", type=FeatureType.STRING, allowed_values=list(WEATHER)),
    ]
)


def synthetic_deliveries(n: int, seed: int = 0) -> tuple[list[dict[str, Any]], list[float]]:
    """``n`` orders and their delivery times in minutes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    distance = rng.gamma(2.0, 3.0, size=n).clip(0.1, 100.0)
    items = rng.integers(1, 12, size=n)
    hour = rng.integers(0, 24, size=n)
    weather = rng.choice(len(WEATHER), size=n, p=[0.7, 0.25, 0.05])
    rush = (hour >= 17) & (hour <= 20)
    minutes = 8 + 3.2 * distance + 0.9 * items + 6 * rush + 5 * (weather == 1) + 15 * (weather == 2)
    minutes = minutes + rng.normal(0, 3, size=n)
    rows = [
        {
            "distance_km": round(float(distance[i]), 2),
            "items": int(items[i]),
            "hour": int(hour[i]),
            "weather": WEATHER[int(weather[i])],
        }
        for i in range(n)
    ]
    return rows, [round(float(m), 2) for m in minutes]


def publish_delivery_model(storage: ObjectStorage, models_bucket: str, artifacts_dir: Path) -> float:
    """Train the regression, publish it as version 1 under the serving alias; return its hold-out MAE."""
    import joblib
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import mean_absolute_error
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rows, minutes = synthetic_deliveries(6000, seed=7)
    names = DELIVERY_SCHEMA.feature_names
    matrix = np.array([[row[name] for name in names] for row in rows], dtype=object)
    pipeline = Pipeline(
        [
            (
                "encode",
                ColumnTransformer(
                    [("weather", OneHotEncoder(handle_unknown="ignore"), [names.index("weather")])],
                    remainder="passthrough",
                    sparse_threshold=0.0,
                ),
            ),
            ("regress", HistGradientBoostingRegressor(max_iter=60, random_state=7)),
        ]
    )
    split = int(len(rows) * 0.8)
    pipeline.fit(matrix[:split], minutes[:split])
    mae = float(mean_absolute_error(minutes[split:], pipeline.predict(matrix[split:])))
    path = artifacts_dir / f"{DELIVERY_MODEL}-1.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, path)
    publish_model(
        path,
        DELIVERY_MODEL,
        "1",
        "sklearn",
        DELIVERY_SCHEMA,
        models_bucket,
        prediction_type="value",
        source={"publisher": "make demo", "mae_minutes": f"{mae:.2f}"},
        storage=storage,
    )
    return mae
