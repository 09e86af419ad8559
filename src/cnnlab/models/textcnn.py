"""TextCNN of Kim, "Convolutional Neural Networks for Sentence Classification", 2014.

The course notes' exercise "Esercitazione Spam Detection": token ids are embedded, 1D
convolutions of several widths slide over the sequence, max-over-time pooling keeps each
filter's strongest response.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.arith import conv_output_length
from cnnlab.layers.conv import LayerSpec, get_activation
from cnnlab.models.registry import register_model


class TextCNN(nn.Module):
    """Embedding, parallel 1D convolutions, max over time, dropout, dense.

    For filter ``j`` of width ``h``: ``c_i = g(w . x_{i:i+h-1} + b)`` at each of the
    ``L - h + 1`` positions, then ``c_hat = max_i c_i`` (Kim 2014, sec. 2). The pooled
    features of all widths are concatenated (``len(kernel_sizes) * filters`` values).

    Args:
        num_classes: outputs (2: ham or spam).
        vocab_size: number of token ids; id 0 is padding and its embedding stays zero.
        embed_dim: size of each token's embedding.
        seq_len: length of the canonical input (sequences must be at least as long as the
            widest filter).
        kernel_sizes: filter widths (3, 4, 5 in the paper).
        filters: filters per width (100 in the paper).
        dropout: dropout on the pooled features (0.5 in the paper).
        activation: activation class (ReLU).

    Shapes:
        ``N x L`` (``torch.long`` token ids) ``-> N x num_classes``.
    """

    input_dtype = torch.long

    def __init__(
        self,
        num_classes: int = 2,
        vocab_size: int = 10_000,
        embed_dim: int = 128,
        seq_len: int = 100,
        kernel_sizes: tuple[int, ...] = (3, 4, 5),
        filters: int = 100,
        dropout: float = 0.5,
        activation: LayerSpec = nn.ReLU,
    ) -> None:
        super().__init__()
        for width in kernel_sizes:
            conv_output_length(seq_len, width)  # raises if a filter is wider than the sequence
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, filters, width) for width in kernel_sizes)
        self.act = get_activation(activation)()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(filters * len(kernel_sizes), num_classes)
        self.input_size: tuple[int, ...] = (seq_len,)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens).transpose(1, 2)  # N x embed_dim x L
        pooled = [self.act(conv(x)).amax(dim=2) for conv in self.convs]  # N x filters each
        return self.fc(self.dropout(torch.cat(pooled, dim=1)))  # N x num_classes


@register_model(num_classes=2)
def textcnn(**kwargs) -> TextCNN:
    """TextCNN of Kim (2014): widths 3, 4, 5 with 100 filters each, 2 classes."""
    return TextCNN(**kwargs)
