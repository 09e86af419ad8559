"""One line per registered model: canonical input, parameters and MACs (``cnnlab models``)."""

from __future__ import annotations

from cnnlab.models import create_model
from cnnlab.summary.model_summary import summarize


def model_catalog(names: list[str]) -> list[dict]:
    """Build each model with its defaults and summarize it on its canonical input."""
    entries = []
    for name in names:
        model = create_model(name)
        result = summarize(model)
        entries.append(
            {
                "name": name,
                "input_size": list(model.input_size),
                "params": result.total_params,
                "macs": result.total_macs,
            }
        )
    return entries
