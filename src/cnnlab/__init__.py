"""cnnlab: convolutional neural networks made real, inspectable and fast."""

from cnnlab.errors import CnnlabError

__all__ = ["CnnlabError", "__version__"]
__version__ = "0.1.0"
