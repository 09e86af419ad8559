"""cnnlab: convolutional neural networks made real, inspectable and fast.

>>> import cnnlab
>>> run = cnnlab.load_run("runs/lenet5-digits-20261207-101816")  # doctest: +SKIP
>>> run.model  # the trained model, weights loaded, in eval mode  # doctest: +SKIP
"""

from cnnlab.errors import CnnlabError, CnnlabWarning

__all__ = ["CnnlabError", "CnnlabWarning", "__version__", "load_run"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """``cnnlab.load_run`` without importing torch at ``import cnnlab`` (PEP 562)."""
    if name == "load_run":
        from cnnlab.runs.load import load_run

        return load_run
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
