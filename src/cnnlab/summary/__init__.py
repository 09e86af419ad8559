"""Per-layer inspection of any ``nn.Module``: shapes, parameters, MACs, receptive fields, memory.

>>> from cnnlab.models import create_model
>>> from cnnlab.summary import summarize
>>> summarize(create_model("lenet5"), (1, 32, 32)).total_params
61706

Counting rules (docs/summary.md has one line per operator):
- parameters: every distinct ``nn.Parameter`` once, also when two layers share it;
- MACs: convolutions on their output size, transposed convolutions on their input size,
  ``mm``/``addmm``/``bmm`` (linear layers, ``torch.matmul``), functional calls included;
  FLOPs are reported beside them as 2 x MACs;
- operators without a multiply-accumulate rule are listed by name with their call count;
- memory: bytes of all tensors produced by one forward pass, and of the activations autograd
  keeps for backward (parameters and buffers excluded).
"""

from cnnlab.summary.model_summary import ModelSummary, summarize
from cnnlab.summary.trace import LayerRow

__all__ = ["LayerRow", "ModelSummary", "summarize"]
