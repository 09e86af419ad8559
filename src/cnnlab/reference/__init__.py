"""Glass-box reference operations: each layer of a CNN as the course notes describe
it, in NumPy.

Every function is pure (no state, no mutation), works on NCHW arrays in any float dtype, and
is tested against the matching PyTorch op, forward and backward.
"""

from cnnlab.reference.activations import (
    gradient_norms_through_depth,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    sigmoid_derivative,
    softmax,
    tanh,
    tanh_backward,
)
from cnnlab.reference.conv import (
    conv2d,
    conv2d_backward,
    conv_transpose2d,
    transposed_frame,
    transposed_grid,
    zero_insert,
)
from cnnlab.reference.dense import flatten, linear, linear_backward
from cnnlab.reference.losses import softmax_cross_entropy, softmax_cross_entropy_backward
from cnnlab.reference.normalization import BatchNormResult, batch_norm, batch_norm_backward
from cnnlab.reference.optim import sgd_step
from cnnlab.reference.pool import (
    avg_pool2d,
    avg_pool2d_backward,
    global_avg_pool,
    global_max_pool,
    max_pool2d,
    max_pool2d_backward,
    window_counts,
)
from cnnlab.reference.regularization import dropout, dropout_mask

__all__ = [
    "BatchNormResult",
    "avg_pool2d",
    "avg_pool2d_backward",
    "batch_norm",
    "batch_norm_backward",
    "conv2d",
    "conv2d_backward",
    "conv_transpose2d",
    "dropout",
    "dropout_mask",
    "flatten",
    "global_avg_pool",
    "global_max_pool",
    "gradient_norms_through_depth",
    "linear",
    "linear_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "relu",
    "relu_backward",
    "sgd_step",
    "sigmoid",
    "sigmoid_backward",
    "sigmoid_derivative",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_backward",
    "tanh",
    "tanh_backward",
    "transposed_frame",
    "transposed_grid",
    "window_counts",
    "zero_insert",
]
