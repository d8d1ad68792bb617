"""Model flavours: how a model file of each kind is loaded, checked and called (serving and promotion).

Every flavour answers the same contract: rows of feature values in, one JSON
value per row out. Runtimes are imported only when a model of that flavour is
loaded, so a function bundles (and imports) only its own flavour's runtime.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from modelwatch.contracts.manifest import Flavor, PredictionType
from modelwatch.contracts.schema import FeatureType, InputSchema


class Predictor(Protocol):
    """A loaded model: rows of features in, one JSON value per row out."""

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]: ...


class ModelLoadError(RuntimeError):
    """The artifact could not be loaded as the flavour the manifest names."""


def _matrix(schema: InputSchema, rows: Sequence[Mapping[str, Any]], numeric: bool) -> Any:
    """Rows as a 2-D numpy array in the schema's feature order (None becomes NaN when numeric)."""
    import numpy as np

    names = schema.feature_names
    if numeric:
        nan = float("nan")
        return np.array(
            [[nan if (v := row.get(name)) is None else float(v) for name in names] for row in rows],
            dtype=np.float64,
        )
    return np.array([[row.get(name) for name in names] for row in rows], dtype=object)


def _is_numeric(schema: InputSchema) -> bool:
    return all(f.type is not FeatureType.STRING for f in schema.features)


def _to_json_values(values: Any) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values]


class SklearnPredictor:
    """A scikit-learn estimator or pipeline saved with joblib or pickle.

    Loading a pickle runs code from the artifact: serve only artifacts from a
    bucket you control (the models bucket is private and written by the registry).
    """

    def __init__(self, path: Path, schema: InputSchema, prediction_type: PredictionType) -> None:
        import joblib  # an ImportError means the runtime is missing, reported by load_predictor

        try:
            self._model = joblib.load(path)
        except Exception as error:  # any unpickling error means "not loadable"
            raise ModelLoadError(f"cannot load scikit-learn model from {path.name}: {error}") from error
        if prediction_type == "probability" and not hasattr(self._model, "predict_proba"):
            raise ModelLoadError("prediction_type 'probability' needs a model with predict_proba")
        self._schema = schema
        self._numeric = _is_numeric(schema)
        self._prediction_type = prediction_type
        fitted_names = getattr(self._model, "feature_names_in_", None)
        if fitted_names is not None:
            missing = set(fitted_names) - set(schema.feature_names)
            if missing:
                raise ModelLoadError(f"model was fitted on features the schema lacks: {sorted(missing)}")
            # Fitted on a DataFrame: feed columns in the fitted order (arrays, no pandas).
            self._order: list[int] | None = [schema.feature_names.index(str(n)) for n in fitted_names]
        else:
            self._order = None

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        matrix = _matrix(self._schema, rows, self._numeric)
        if self._order is not None:
            matrix = matrix[:, self._order]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return self._predict(matrix)

    def _predict(self, matrix: Any) -> list[Any]:
        if self._prediction_type == "probability":
            return [round(float(p), 6) for p in self._model.predict_proba(matrix)[:, 1]]
        return _to_json_values(self._model.predict(matrix))


class OnnxPredictor:
    """An ONNX model run with onnxruntime.

    The model takes either one 2-D float input (features in schema order) or one
    input per feature, named after it. For ``probability``, the output named
    ``probabilities`` (or the last output) gives P(class 1) in column 1.
    """

    def __init__(self, path: Path, schema: InputSchema, prediction_type: PredictionType) -> None:
        import onnxruntime as ort  # an ImportError means the runtime is missing

        try:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"cannot load ONNX model from {path.name}: {error}") from error
        self._schema = schema
        self._prediction_type = prediction_type
        self._inputs = [i.name for i in self._session.get_inputs()]
        outputs = [o.name for o in self._session.get_outputs()]
        if prediction_type == "probability":
            self._output = "probabilities" if "probabilities" in outputs else outputs[-1]
        else:
            self._output = outputs[0]
        if len(self._inputs) > 1 and set(self._inputs) != set(schema.feature_names):
            raise ModelLoadError(
                f"ONNX inputs {self._inputs} match neither one tensor nor the schema's features"
            )

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        import numpy as np

        if len(self._inputs) == 1:
            feeds = {self._inputs[0]: _matrix(self._schema, rows, numeric=True).astype(np.float32)}
        else:
            feeds = {}
            for spec in self._schema.features:
                column = [[row.get(spec.name)] for row in rows]
                dtype = np.float32 if spec.type is not FeatureType.STRING else object
                feeds[spec.name] = np.array(column, dtype=dtype)
        (result,) = self._session.run([self._output], feeds)
        if self._prediction_type == "probability":
            if isinstance(result, list):  # a ZipMap output: one {class: p} dict per row
                return [round(float(r[1]), 6) for r in result]
            return [round(float(p), 6) for p in np.asarray(result)[:, 1]]
        return _to_json_values(np.asarray(result).reshape(len(rows), -1)[:, 0])


_LOADERS: dict[str, Callable[[Path, InputSchema, PredictionType], Predictor]] = {
    "sklearn": SklearnPredictor,
    "onnx": OnnxPredictor,
}


# The module each flavour's runtime is imported from (found without being imported).
RUNTIME_MODULES: dict[Flavor, str] = {"sklearn": "sklearn", "onnx": "onnxruntime"}


def installed_flavors() -> list[Flavor]:
    """The flavours whose runtime is installed here (looked up, not imported: no cold-start cost)."""
    import importlib.util

    return [flavor for flavor, module in RUNTIME_MODULES.items() if importlib.util.find_spec(module)]


def load_predictor(
    flavor: Flavor, path: Path, schema: InputSchema, prediction_type: PredictionType
) -> Predictor:
    """Load the model file at ``path`` as ``flavor``.

    Raises
    ------
    ModelLoadError
        When the runtime is missing or the file is not a model of that flavour.
    """
    try:
        loader = _LOADERS[flavor]
    except KeyError:
        raise ModelLoadError(f"unknown flavor {flavor!r}; known: {sorted(_LOADERS)}") from None
    try:
        return loader(path, schema, prediction_type)
    except ImportError as error:
        raise ModelLoadError(f"the {flavor} runtime is not installed in this function: {error}") from error


def check_predictor(predictor: Predictor, schema: InputSchema, prediction_type: PredictionType) -> None:
    """Score the schema's example instance and check the answer: one JSON value, a probability in [0, 1].

    A model that loads may still not score (fitted on other features, a broken pipeline): this is
    what tells, before the version replaces the one serving or is published.

    Raises
    ------
    ModelLoadError
        Scoring failed or gave something serving could not answer with.
    """
    try:
        predictions = predictor.predict([schema.example_instance()])
        json.dumps(predictions, allow_nan=False)
    except Exception as error:  # any runtime error: the version cannot serve
        raise ModelLoadError(
            f"scoring an example instance failed: {type(error).__name__}: {error}"
        ) from error
    if len(predictions) != 1:
        raise ModelLoadError(f"scoring one instance gave {len(predictions)} predictions")
    if prediction_type == "probability" and not (
        isinstance(predictions[0], int | float) and 0.0 <= predictions[0] <= 1.0
    ):
        raise ModelLoadError(f"a probability model answered {predictions[0]!r}")
