"""One line per registered model: canonical input, parameters and MACs (``cnnlab models``)."""

from __future__ import annotations

import torch

from cnnlab.models import create_model, model_info
from cnnlab.summary.model_summary import summarize


def model_catalog(names: list[str]) -> list[dict]:
    """Build each model with its defaults and summarize it on its canonical input.

    Models are built on the ``meta`` device: shapes and counts without any arithmetic, so the
    whole zoo (U-Net at 572x572 included) is listed in well under a second.
    """
    entries = []
    for name in names:
        with torch.device("meta"):
            model = create_model(name)
        result = summarize(model)
        entries.append(
            {
                "name": name,
                "input_size": list(model_info(model).input_size),
                "params": result.total_params,
                "macs": result.total_macs,
            }
        )
    return entries
