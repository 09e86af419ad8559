"""``cnnlab explain``: each operation of the course notes computed step by step, as text, or
in a notebook as the returned object's grids (HTML tables, the window under the kernel
highlighted).

The numbers come from :mod:`cnnlab.reference`; these modules only arrange them (data first,
then text and HTML).
"""

from cnnlab.explain.activations import explain_activations, render_activations
from cnnlab.explain.grids import default_volume, format_grid, parse_at, parse_grid, parse_volume
from cnnlab.explain.stats import (
    explain_batchnorm,
    explain_dropout,
    explain_global_pool,
    render_batchnorm,
    render_dropout,
    render_global_pool,
)
from cnnlab.explain.training import explain_train_step, render_train_step
from cnnlab.explain.transposed import explain_transposed, render_transposed
from cnnlab.explain.windows import explain_conv, explain_pool, render_conv, render_pool

__all__ = [
    "default_volume",
    "explain_activations",
    "explain_batchnorm",
    "explain_conv",
    "explain_dropout",
    "explain_global_pool",
    "explain_pool",
    "explain_train_step",
    "explain_transposed",
    "format_grid",
    "parse_at",
    "parse_grid",
    "parse_volume",
    "render_activations",
    "render_batchnorm",
    "render_conv",
    "render_dropout",
    "render_global_pool",
    "render_pool",
    "render_train_step",
    "render_transposed",
]
