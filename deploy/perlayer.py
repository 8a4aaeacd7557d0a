"""Per-layer choice of calibration method (``auto``): each layer takes the scales of the method under
which it alone disturbs the network least.

For every candidate method the layer is made the *only* int8 layer and the relative error of the
head outputs is measured on a few calibration images (:func:`deploy.sensitivity.layer_sensitivity`, no
labels).  The layer then keeps that method's weight and input scales.  The choice is independent per
layer, so interactions between layers are not modelled; the search scores the result like any other
method, on images it was not calibrated on.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from deploy.calibrate import BlobStats, QuantLayer, Table, make_table
from deploy.ncnnio import NcnnModel
from deploy.sensitivity import layer_sensitivity

AUTO = "auto"
AUTO_FROM = ("kl", "max", "mse")


def per_layer_table(model: NcnnModel, fp32_bundle: Path, layers: list[QuantLayer], stats: dict[str, BlobStats],
                    images: list[Path], size: int, threads: int | None = None,
                    methods: tuple[str, ...] = AUTO_FROM) -> tuple[Table, dict[str, str]]:
    """(the merged table, layer → chosen method)."""
    if not images:
        raise ValueError("the per-layer method choice needs at least one calibration image")
    tables = {m: make_table(layers, stats, m) for m in methods}
    errors = {m: dict(layer_sensitivity(model, fp32_bundle, layers, tables[m], images, size, threads)) for m in methods}
    choice = {q.name: min(methods, key=lambda m: (errors[m][q.name], methods.index(m))) for q in layers}
    table = Table(AUTO, {q.name: tables[choice[q.name]].weight[q.name] for q in layers},
                  {q.name: tables[choice[q.name]].bottom[q.name] for q in layers})
    return table, choice


def choice_summary(choice: dict[str, str]) -> dict[str, int]:
    return dict(sorted(Counter(choice.values()).items()))
