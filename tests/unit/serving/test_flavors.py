"""Model flavours: sklearn and ONNX artifacts behind one contract (rows in, JSON values out)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema
from modelwatch.flavors import ModelLoadError, OnnxPredictor, SklearnPredictor, load_predictor


def test_sklearn_probability(
    sklearn_classifier: Any, training_data: Any, numeric_schema: InputSchema
) -> None:
    predictor = load_predictor("sklearn", sklearn_classifier.path, numeric_schema, "probability")
    predictions = predictor.predict(training_data.rows[:20])
    expected = sklearn_classifier.estimator.predict_proba(training_data.matrix[:20])[:, 1]
    assert predictions == [round(float(p), 6) for p in expected]
    assert all(type(p) is float for p in predictions)
    json.dumps(predictions)


def test_sklearn_label(sklearn_classifier: Any, training_data: Any, numeric_schema: InputSchema) -> None:
    predictor = load_predictor("sklearn", sklearn_classifier.path, numeric_schema, "label")
    predictions = predictor.predict(training_data.rows)
    assert predictions == sklearn_classifier.estimator.predict(training_data.matrix).tolist()
    assert all(type(p) is int for p in predictions)
    assert set(predictions) == {0, 1}


def test_sklearn_string_labels_are_json_strings(
    training_data: Any, numeric_schema: InputSchema, tmp_path: Path
) -> None:
    from sklearn.tree import DecisionTreeClassifier

    labels = np.where(training_data.labels == 1, "fraud", "ok")
    path = tmp_path / "tree.joblib"
    joblib.dump(DecisionTreeClassifier(max_depth=3).fit(training_data.matrix, labels), path)
    predictions = load_predictor("sklearn", path, numeric_schema, "label").predict(training_data.rows[:10])
    assert set(predictions) <= {"fraud", "ok"}
    assert all(type(p) is str for p in predictions)


def test_sklearn_value(training_data: Any, numeric_schema: InputSchema, tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    target = training_data.matrix @ np.array([2.0, -1.0, 10.0]) + 5.0
    path = tmp_path / "regression.joblib"
    joblib.dump(LinearRegression().fit(training_data.matrix, target), path)
    predictions = load_predictor("sklearn", path, numeric_schema, "value").predict(training_data.rows[:5])
    assert predictions == pytest.approx(target[:5].tolist())
    assert all(type(p) is float for p in predictions)


def test_booleans_feed_the_model_as_numbers(sklearn_classifier: Any, numeric_schema: InputSchema) -> None:
    predictor = load_predictor("sklearn", sklearn_classifier.path, numeric_schema, "probability")
    as_bool = predictor.predict([{"amount": 40.0, "hour": 2, "is_foreign": True}])
    as_number = sklearn_classifier.estimator.predict_proba(np.array([[40.0, 2.0, 1.0]]))[:, 1]
    assert as_bool == [round(float(as_number[0]), 6)]


def test_probability_needs_predict_proba(
    training_data: Any, numeric_schema: InputSchema, tmp_path: Path
) -> None:
    from sklearn.linear_model import LinearRegression

    path = tmp_path / "regression.joblib"
    joblib.dump(LinearRegression().fit(training_data.matrix, training_data.labels), path)
    with pytest.raises(ModelLoadError, match="predict_proba"):
        load_predictor("sklearn", path, numeric_schema, "probability")


def test_features_reordered_to_the_fitted_order(
    training_data: Any, numeric_schema: InputSchema, tmp_path: Path
) -> None:
    # Given a model fitted with its columns in another order than the schema's, which
    # records that order in feature_names_in_ (what fitting on a DataFrame does)
    from sklearn.linear_model import LinearRegression

    fitted_order = ["is_foreign", "amount", "hour"]
    columns = [numeric_schema.feature_names.index(name) for name in fitted_order]
    matrix = training_data.matrix[:, columns]
    model = LinearRegression().fit(matrix, matrix @ np.array([100.0, 1.0, 0.01]))
    model.feature_names_in_ = np.array(fitted_order, dtype=object)
    path = tmp_path / "reordered.joblib"
    joblib.dump(model, path)
    # When rows are predicted through the schema
    predictions = load_predictor("sklearn", path, numeric_schema, "value").predict(
        [{"amount": 10.0, "hour": 5, "is_foreign": True}]
    )
    # Then each value reached its own column
    assert predictions == pytest.approx([100.0 + 10.0 + 0.05])


def test_dataframe_fitted_model(training_data: Any, numeric_schema: InputSchema, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame(training_data.matrix, columns=numeric_schema.feature_names)[
        ["hour", "is_foreign", "amount"]
    ]
    model = LogisticRegression(max_iter=500).fit(frame, training_data.labels)
    path = tmp_path / "frame.joblib"
    joblib.dump(model, path)
    predictions = load_predictor("sklearn", path, numeric_schema, "probability").predict(
        training_data.rows[:5]
    )
    assert predictions == [round(float(p), 6) for p in model.predict_proba(frame.iloc[:5])[:, 1]]


def test_model_fitted_on_features_the_schema_lacks(
    training_data: Any, numeric_schema: InputSchema, tmp_path: Path
) -> None:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(training_data.matrix, training_data.labels)
    model.feature_names_in_ = np.array(["amount", "hour", "velocity"], dtype=object)
    path = tmp_path / "mismatch.joblib"
    joblib.dump(model, path)
    with pytest.raises(ModelLoadError, match="velocity"):
        load_predictor("sklearn", path, numeric_schema, "value")


def test_pipeline_with_a_string_feature(tmp_path: Path) -> None:
    # The demo model: a one-hot encoded "channel" string feature in a pipeline (small and fast here)
    from modelwatch_local.fraud import FRAUD_SCHEMA, save_model, synthetic_transactions, train_fraud_model

    trained = train_fraud_model(n=400, seed=1, n_estimators=5)
    path = save_model(trained, tmp_path / "fraud.joblib")
    rows, _ = synthetic_transactions(10, seed=2)
    rows[0]["channel"] = "carrier-pigeon"  # an unseen category is still served
    predictions = load_predictor("sklearn", path, FRAUD_SCHEMA, "probability").predict(rows)
    assert len(predictions) == 10
    assert all(0.0 <= p <= 1.0 for p in predictions)


def test_onnx_single_tensor_probability(
    onnx_classifier: Any, training_data: Any, numeric_schema: InputSchema
) -> None:
    predictor = load_predictor("onnx", onnx_classifier.path, numeric_schema, "probability")
    assert isinstance(predictor, OnnxPredictor)
    predictions = predictor.predict(training_data.rows[:30])
    expected = onnx_classifier.estimator.predict_proba(training_data.matrix[:30])[:, 1]
    assert predictions == pytest.approx(expected.tolist(), abs=1e-5)
    assert all(type(p) is float for p in predictions)


def test_onnx_label(onnx_classifier: Any, training_data: Any, numeric_schema: InputSchema) -> None:
    predictor = load_predictor("onnx", onnx_classifier.path, numeric_schema, "label")
    predictions = predictor.predict(training_data.rows)
    expected = onnx_classifier.estimator.predict(training_data.matrix).tolist()
    # float32 inference may flip a borderline row; the labels are ints and (almost) all agree
    assert all(type(p) is int for p in predictions)
    assert sum(p == e for p, e in zip(predictions, expected, strict=True)) >= len(expected) - 2


@pytest.mark.parametrize("flavor", ["sklearn", "onnx"])
def test_garbage_file_is_a_load_error(flavor: Any, garbage_file: Path, numeric_schema: InputSchema) -> None:
    with pytest.raises(ModelLoadError, match=garbage_file.name):
        load_predictor(flavor, garbage_file, numeric_schema, "value")


@pytest.mark.parametrize("flavor", ["sklearn", "onnx"])
def test_missing_file_is_a_load_error(flavor: Any, tmp_path: Path, numeric_schema: InputSchema) -> None:
    with pytest.raises(ModelLoadError):
        load_predictor(flavor, tmp_path / "missing.bin", numeric_schema, "value")


def test_unknown_flavor(garbage_file: Path, numeric_schema: InputSchema) -> None:
    with pytest.raises(ModelLoadError, match=r"unknown flavor 'pytorch'; known: \['onnx', 'sklearn'\]"):
        load_predictor("pytorch", garbage_file, numeric_schema, "value")  # type: ignore[arg-type]


def test_missing_runtime_is_a_load_error(
    onnx_classifier: Any, numeric_schema: InputSchema, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # "not installed in this function"
    with pytest.raises(ModelLoadError, match="onnxruntime"):
        load_predictor("onnx", onnx_classifier.path, numeric_schema, "probability")


def test_sklearn_predictor_with_strings_in_a_numeric_free_schema(tmp_path: Path) -> None:
    # A string-only schema feeds an object matrix, untouched
    from sklearn.dummy import DummyClassifier

    schema = InputSchema(features=[FeatureSpec(name="channel", type=FeatureType.STRING)])
    path = tmp_path / "dummy.joblib"
    joblib.dump(
        DummyClassifier(strategy="constant", constant="pos").fit([["a"], ["b"]], ["pos", "neg"]), path
    )
    assert SklearnPredictor(path, schema, "label").predict([{"channel": "zzz"}]) == ["pos"]
