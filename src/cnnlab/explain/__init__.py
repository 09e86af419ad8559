"""``cnnlab explain``: each operation of the course notes computed step by step, as text, or
in a notebook as the returned object's grids (HTML tables, the window under the kernel
highlighted).

The numbers come from :mod:`cnnlab.reference`; these modules only arrange them (data first,
then text and HTML).
"""

from cnnlab.explain.grids import default_volume, format_grid, parse_at, parse_grid, parse_volume
from cnnlab.explain.stats import (
    explain_batchnorm,
    explain_dropout,
    explain_global_pool,
    render_batchnorm,
    render_dropout,
    render_global_pool,
)
from cnnlab.explain.transposed import explain_transposed, render_transposed
from cnnlab.explain.windows import explain_conv, explain_pool, render_conv, render_pool

__all__ = [
    "default_volume",
    "explain_batchnorm",
    "explain_conv",
    "explain_dropout",
    "explain_global_pool",
    "explain_pool",
    "explain_transposed",
    "format_grid",
    "parse_at",
    "parse_grid",
    "parse_volume",
    "render_batchnorm",
    "render_conv",
    "render_dropout",
    "render_global_pool",
    "render_pool",
    "render_transposed",
]
