"""Our CBPE against NannyML's on the same generated data (not a test CI runs: NannyML is not a dependency).

Seeded worlds as in ``tests/unit/monitoring/estimation/worlds.py``: labels drawn from the true
probabilities, and the model outputs them (calibrated); windows move the features (covariate
shift, P(label | features) unchanged). A 50k-row reference and windows of 50k rows, binary
(threshold 0.5) and multiclass (3 classes, arg max). NannyML (``nannyml.CBPE``, one chunk a
window) runs in another interpreter that has it installed, ours here; the script prints, per
window and metric, both estimates, both bands (ours: 2.5%-97.5% of the realized metric's
draws; NannyML's: value +- 3 sampling errors) and the realized value, and writes them as JSON.

Run: ``.venv/bin/python tests/benchmarks/compare_nannyml.py --nannyml-python /tmp/nml/bin/python
--output .bench/cbpe_vs_nannyml.json`` (``python3 -m venv /tmp/nml && /tmp/nml/bin/pip install
nannyml statsmodels``: NannyML 0.13.1 imports statsmodels without declaring it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ROWS = 50_000
METRICS = ("accuracy", "f1", "roc_auc")
BINARY_WINDOWS = {"unchanged": (0.0, 1.5), "towards_boundary": (0.33, 0.7), "away": (-1.5, 0.8)}
MULTICLASS_WINDOWS = {
    "unchanged": ((0.0, 0.0), 1.5),
    "shifted": ((0.4, -0.3), 0.7),
    "spread": ((0.0, 0.0), 2.5),
}

NANNYML_CHILD = textwrap.dedent(
    """
    import json, sys, warnings
    import numpy as np, pandas as pd
    warnings.filterwarnings("ignore")
    import nannyml as nml

    data = np.load(sys.argv[1])
    classes = ["a", "b", "c"]
    out = {}
    def run(frame_ref, frame_ana, **kwargs):
        est = nml.CBPE(metrics=["roc_auc", "f1", "accuracy"], chunk_size=len(frame_ana), **kwargs)
        est.fit(frame_ref)
        df = est.estimate(frame_ana).filter(period="analysis").to_df()
        row = df.iloc[0]
        return {m: {"value": float(row[(m, "value")]),
                    "lower": float(row[(m, "lower_confidence_boundary")]),
                    "upper": float(row[(m, "upper_confidence_boundary")])}
                for m in ["accuracy", "f1", "roc_auc"]}
    def binary(p, y):
        return pd.DataFrame({"p": p, "y_pred": (p >= 0.5).astype(int), "y_true": y})
    def multi(p, y):
        frame = pd.DataFrame({f"p_{c}": p[:, i] for i, c in enumerate(classes)})
        frame["y_pred"] = np.asarray(classes)[p.argmax(axis=1)]
        frame["y_true"] = np.asarray(classes)[y]
        return frame
    for key in data.files:
        if key.startswith("binary_") and key.endswith("_p") and key != "binary_reference_p":
            name = key[len("binary_"):-2]
            out["binary/" + name] = run(binary(data["binary_reference_p"], data["binary_reference_y"]),
                binary(data[key], data[key[:-2] + "_y"]), y_pred_proba="p", y_pred="y_pred", y_true="y_true",
                problem_type="classification_binary")
        if key.startswith("multi_") and key.endswith("_p") and key != "multi_reference_p":
            name = key[len("multi_"):-2]
            out["multiclass/" + name] = run(multi(data["multi_reference_p"], data["multi_reference_y"]),
                multi(data[key], data[key[:-2] + "_y"]), y_pred_proba={c: f"p_{c}" for c in classes},
                y_pred="y_pred", y_true="y_true", problem_type="classification_multiclass")
    print(json.dumps(out))
    """
)


def _generate(seed: int) -> dict[str, Any]:
    import numpy as np

    from tests.unit.monitoring.estimation.worlds import binary_world, multiclass_world

    rng = np.random.default_rng(seed)
    arrays: dict[str, Any] = {}
    arrays["binary_reference_p"], arrays["binary_reference_y"] = binary_world(rng, ROWS)
    for name, (mean, scale) in BINARY_WINDOWS.items():
        arrays[f"binary_{name}_p"], arrays[f"binary_{name}_y"] = binary_world(
            rng, ROWS, mean=mean, scale=scale
        )
    arrays["multi_reference_p"], arrays["multi_reference_y"] = multiclass_world(rng, ROWS)
    for name, (center, scale) in MULTICLASS_WINDOWS.items():
        arrays[f"multi_{name}_p"], arrays[f"multi_{name}_y"] = multiclass_world(
            rng, ROWS, mean=center, scale=scale
        )
    return arrays


def _ours(arrays: dict[str, Any]) -> dict[str, Any]:
    from modelwatch.monitoring.estimation import (
        binary_statistics,
        estimate_performance,
        multiclass_statistics,
        prepare_reference,
    )
    from tests.unit.monitoring.estimation.worlds import CLASSES, binary_realized, multiclass_realized

    out: dict[str, Any] = {}
    reference = prepare_reference(
        binary_statistics(arrays["binary_reference_p"], labels=arrays["binary_reference_y"])
    )
    for name in BINARY_WINDOWS:
        p, y = arrays[f"binary_{name}_p"], arrays[f"binary_{name}_y"]
        estimate = estimate_performance(binary_statistics(p), reference)
        out[f"binary/{name}"] = (estimate, binary_realized(p, y), reference.check.calibrated)
    reference = prepare_reference(
        multiclass_statistics(arrays["multi_reference_p"], CLASSES, labels=arrays["multi_reference_y"])
    )
    for name in MULTICLASS_WINDOWS:
        p, y = arrays[f"multi_{name}_p"], arrays[f"multi_{name}_y"]
        estimate = estimate_performance(multiclass_statistics(p, CLASSES), reference)
        out[f"multiclass/{name}"] = (estimate, multiclass_realized(p, y), reference.check.calibrated)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nannyml-python", required=True, help="an interpreter with nannyml installed")
    parser.add_argument("--output", default=".bench/cbpe_vs_nannyml.json")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "layers/modelwatch"))
    import numpy as np

    arrays = _generate(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, **arrays)
        done = subprocess.run(
            [args.nannyml_python, "-c", NANNYML_CHILD, str(path)], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        print(f"nannyml failed: {done.stderr[-2000:]}", file=sys.stderr)
        return 2
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    ours = _ours(arrays)
    rows, differences = [], []
    print("| window | metric | realized | ours (95% band) | NannyML (+-3 SE) | ours - NannyML |")
    print("|---|---|---|---|---|---|")
    for window, (estimate, realized, calibrated) in ours.items():
        for metric in METRICS:
            mine, nml = estimate.metric(metric), theirs[window][metric]
            assert mine.value is not None and mine.lower is not None and mine.upper is not None
            difference = mine.value - nml["value"]
            differences.append(abs(difference))
            rows.append(
                {
                    "window": window,
                    "metric": metric,
                    "realized": realized[metric],
                    "ours": {"value": mine.value, "lower": mine.lower, "upper": mine.upper},
                    "nannyml": nml,
                    "difference": difference,
                    "reference_calibrated": calibrated,
                }
            )
            print(
                f"| {window} | {metric} | {realized[metric]:.4f} | {mine.value:.4f} "
                f"[{mine.lower:.4f}, {mine.upper:.4f}] | {nml['value']:.4f} [{nml['lower']:.4f}, "
                f"{nml['upper']:.4f}] | {difference:+.4f} |"
            )
    summary = {
        "max_abs_difference": max(differences),
        "mean_abs_difference": sum(differences) / len(differences),
    }
    print(json.dumps(summary))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps({"rows": rows, "summary": summary, "seed": args.seed, "rows_per_window": ROWS}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
