"""The course notes' training procedure ("Addestramento di una CNN") step by step on real
digits: one convolutional layer with one filter, cross-entropy, backpropagation by hand,
gradient descent, then evaluation on digits the filter never saw.

The model: ``fmap = conv2d(x, w) + b`` (one ``k x k`` filter, stride 1, no padding, no
activation), then a FIXED read-out: the score of digit ``c`` is ``sum_ij fmap[i, j] T_c[i, j]``,
``T_c`` the mean training image of digit ``c`` minus the mean of the ten, cut to the feature
map's size around the centre. Only the filter learns: its ``k * k`` weights and its bias, the
notes' 10 parameters for ``k = 3``. Without an activation the scores are linear in them, so the
loss is convex and gradient descent cannot get stuck.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab import display
from cnnlab import reference as R
from cnnlab.errors import CnnlabError
from cnnlab.explain.grids import (
    format_grid,
    format_table,
    html_grid,
    labelled,
    number,
    side_by_side,
)

TEST_START = 1000  # digits from this index on are the unseen test images
INIT_STD = 0.1
SHOWN_STEPS = 12


def load_digits_01() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits as ``N x 1 x 8 x 8`` floats in 0..1 (pixels / 16), labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images[:, None] / 16.0, bunch.target.astype(np.int64)


def readout_templates(images: np.ndarray, labels: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``10 x h x w``: each digit's mean image minus the mean of the ten, cut to ``hw`` around
    the centre (the pixels under the filter's centre)."""
    means = np.stack([images[labels == c, 0].mean(axis=0) for c in range(10)])  # 10 x 8 x 8
    top, left = ((images.shape[-2] - hw[0]) // 2, (images.shape[-1] - hw[1]) // 2)
    return (means - means.mean(axis=0))[:, top : top + hw[0], left : left + hw[1]]


def filter_scores(
    x: np.ndarray, w: np.ndarray, b: float, templates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Forward pass: ``(feature maps N x 1 x h x w, scores N x 10)``."""
    fmap = R.conv2d(x, w[None, None], np.array([b]))  # N x 1 x h x w
    return fmap, R.linear(R.flatten(fmap), templates.reshape(10, -1))  # N x 10


def filter_gradients(
    x: np.ndarray, labels: np.ndarray, w: np.ndarray, b: float, templates: np.ndarray
) -> tuple[float, np.ndarray, float]:
    """Mean cross-entropy and its gradients ``(loss, dL/dw, dL/db)`` by the chain rule:
    ``dL/dscores = (softmax - one_hot) / N``, ``dL/dfmap = dL/dscores T``, then
    :func:`~cnnlab.reference.conv2d_backward`."""
    fmap, scores = filter_scores(x, w, b, templates)
    dscores = R.softmax_cross_entropy_backward(scores, labels)  # N x 10
    dfmap = R.linear_backward(dscores, R.flatten(fmap), templates.reshape(10, -1))[0]
    _, dw, db = R.conv2d_backward(dfmap.reshape(fmap.shape), x, w[None, None])
    return R.softmax_cross_entropy(scores, labels), dw[0, 0], float(db[0])


def evaluate(
    x: np.ndarray, labels: np.ndarray, w: np.ndarray, b: float, templates: np.ndarray
) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy)`` on ``x``."""
    scores = filter_scores(x, w, b, templates)[1]
    return R.softmax_cross_entropy(scores, labels), float((scores.argmax(1) == labels).mean())


@dataclass(frozen=True)
class Step:
    """One pass of the notes' steps 4-7 over the training images: the loss and accuracy before
    the update, the gradients, and the parameters after it."""

    loss: float
    accuracy: float
    dw: np.ndarray
    db: float
    w: np.ndarray
    b: float


@dataclass(frozen=True)
class TrainStepWalk:
    """The whole procedure: data, read-out, initial filter, every step, test before and after."""

    images: np.ndarray
    labels: np.ndarray
    templates: np.ndarray
    w0: np.ndarray
    lr: float
    momentum: float
    seed: int
    steps: tuple[Step, ...]
    test_size: int
    test_before: tuple[float, float]
    test_after: tuple[float, float]

    def __repr__(self) -> str:
        k = "x".join(map(str, self.w0.shape))
        return (
            f"TrainStepWalk({k} filter, {len(self.steps)} steps: loss "
            f"{number(self.steps[0].loss)} -> {number(self.steps[-1].loss)}; test accuracy "
            f"{self.test_before[1]:.1%} -> {self.test_after[1]:.1%})"
        )

    def _repr_html_(self) -> str:
        return train_step_html(self)


def explain_train_step(
    kernel: tuple[int, int] = (3, 3),
    lr: float = 0.5,
    momentum: float = 0.0,
    steps: int = 20,
    images: int = 100,
    seed: int = 0,
) -> TrainStepWalk:
    """Train one filter on the first ``images`` digits by full-batch gradient descent and test
    it on digits 1,000 to 1,796.

    Args:
        kernel: the filter's size (h, w), at most 8 x 8.
        lr: learning rate. momentum: ``mu`` of ``v = mu v + g; w = w - lr v`` (0: plain SGD).
        steps: repetitions of steps 4-7, 1 to 1,000.
        images: training images, 10 to 1,000.
        seed: seed of the filter's initial weights, drawn from ``N(0, 0.1^2)``; the bias is 0.

    Raises:
        CnnlabError: a setting out of its range.
    """
    if not 1 <= steps <= 1000:
        raise CnnlabError(f"steps must be between 1 and 1000. Received: steps={steps}")
    if not 10 <= images <= TEST_START:
        raise CnnlabError(f"images must be between 10 and {TEST_START}. Received: images={images}")
    if max(kernel) > 8:
        raise CnnlabError(f"kernel must fit the 8x8 digits. Received: kernel={kernel}")
    R.sgd_step(np.zeros(1), np.zeros(1), np.zeros(1), lr, momentum)  # checks lr and momentum
    all_x, all_y = load_digits_01()
    x, y, x_test, y_test = all_x[:images], all_y[:images], all_x[TEST_START:], all_y[TEST_START:]
    templates = readout_templates(x, y, (9 - kernel[0], 9 - kernel[1]))
    w0 = np.random.default_rng(seed).normal(0.0, INIT_STD, kernel)
    w, b, v_w, v_b = w0, 0.0, np.zeros_like(w0), np.zeros(1)
    history = []
    for _ in range(steps):
        loss, dw, db = filter_gradients(x, y, w, b, templates)
        accuracy = evaluate(x, y, w, b, templates)[1]
        w, v_w = R.sgd_step(w, dw, v_w, lr, momentum)
        new_b, v_b = R.sgd_step(np.array([b]), np.array([db]), v_b, lr, momentum)
        b = float(new_b[0])
        history.append(Step(loss, accuracy, dw, db, w, b))
    return TrainStepWalk(
        x,
        y,
        templates,
        w0,
        lr,
        momentum,
        seed,
        tuple(history),
        len(y_test),
        evaluate(x_test, y_test, w0, 0.0, templates),
        evaluate(x_test, y_test, w, b, templates),
    )


def shown_steps(count: int, most: int = SHOWN_STEPS) -> list[int]:
    """Indices of the steps a table shows: all of them, or ``most`` spread from first to last."""
    return sorted({int(i) for i in np.linspace(0, count - 1, min(count, most)).round()})


def _rounded(grid: np.ndarray) -> np.ndarray:
    return np.round(grid, 3) + 0.0  # + 0.0 turns -0.0 into 0


def _first_image(t: TrainStepWalk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first training image's feature map, scores and probabilities at initialization."""
    fmap, scores = filter_scores(t.images[:1], t.w0, 0.0, t.templates)
    return fmap[0, 0], scores[0], R.softmax(scores)[0]


def _sentences(t: TrainStepWalk) -> dict[str, str]:
    """Every sentence of the walk-through, shared by the text and the HTML."""
    kh, kw = t.w0.shape
    fh, fw = t.templates.shape[1:]
    n, first = len(t.labels), t.steps[0]
    _, _, probs = _first_image(t)
    label = int(t.labels[0])
    rule = "w <- w - lr * dL/dw" if t.momentum == 0 else "v <- mu * v + dL/dw; w <- w - lr * v"
    return {
        "data": f"data: the first {n} of scikit-learn's 8x8 digits (pixels / 16, so 0..1); "
        f"{t.test_size} others (digits {TEST_START} to {TEST_START + t.test_size - 1}) are kept "
        "unseen for step 8",
        "setup": f"step 1, architecture: one conv layer with one {kh}x{kw} filter (stride 1, "
        f"no padding, no activation) -> a {fh}x{fw} feature map; a FIXED read-out (not learned) "
        f"gives digit c the score sum(feature map * T_c), T_c = the mean training image of c "
        f"minus the mean of all ten, its central {fh}x{fw}",
        "learned": f"learned: {kh * kw + 1} parameters, the {kh * kw} filter weights and 1 "
        "bias; without an activation the scores are linear in them, so the loss is convex",
        "init": f"step 2, initialization (seed {t.seed}): {kh * kw} weights drawn from "
        f"N(0, {INIT_STD}^2), bias 0:",
        "loss": "step 3, loss: cross-entropy L = -log softmax(scores)[label], averaged over "
        f"the {n} training images",
        "forward": f"step 4, forward pass on training image 0 (a {label}): the feature map, "
        "then the ten scores and softmax probabilities",
        "error": f"step 5, error: image 0's loss = -log p[{label}] = -log "
        f"{number(probs[label])} = {number(-np.log(probs[label]))}; mean over the {n} images "
        f"= {number(first.loss)} (ln 10 = 2.3026 is a uniform guess)",
        "backprop": "step 6, backpropagation: dL/dscores = (softmax - one_hot) / N; "
        "dL/dfmap = sum_c dL/dscore_c * T_c; dL/dw[u,v] = sum_ij dL/dfmap[i,j] x[i+u, j+v]; "
        "dL/db = sum_ij dL/dfmap[i,j]; averaged over the images:",
        "bias_gradient": f"dL/db = {number(first.db)}",
        "update": f"step 7, update (SGD, lr {number(t.lr)}"
        + (f", momentum mu {number(t.momentum)}" if t.momentum else "")
        + f"): {rule}; b likewise -> b = {number(first.b)}",
        "repeat": f"repeat steps 4-7 ({len(t.steps)} steps in all) over the {n} images:",
        "evaluate": f"step 8, evaluation on the {t.test_size} unseen digits: loss "
        f"{number(t.test_before[0])} -> {number(t.test_after[0])}, accuracy "
        f"{t.test_before[1]:.1%} -> {t.test_after[1]:.1%} (before -> after training; "
        "chance is 10%)",
    }


STEP_HEADER = ("step", "loss", "train accuracy", "|dL/dw|", "dL/db", "bias after")


def _step_rows(t: TrainStepWalk) -> list[tuple[str, ...]]:
    rows = []
    for i in shown_steps(len(t.steps)):
        s = t.steps[i]
        norm = float(np.linalg.norm(s.dw))
        rows.append(
            (
                str(i + 1),
                number(s.loss),
                f"{s.accuracy:.1%}",
                number(norm),
                number(s.db),
                number(s.b),
            )
        )
    return rows


def _scores_rows(t: TrainStepWalk) -> list[tuple[str, str, str]]:
    _, scores, probs = _first_image(t)
    return [(str(c), number(scores[c]), number(probs[c])) for c in range(10)]


def render_train_step(t: TrainStepWalk) -> list[str]:
    s = _sentences(t)
    fmap = _first_image(t)[0]
    first = t.steps[0]
    return [
        s["data"],
        s["setup"],
        s["learned"],
        s["init"],
        *format_grid(_rounded(t.w0)),
        s["loss"],
        s["forward"],
        *side_by_side(
            [
                ["image 0", *format_grid(_rounded(t.images[0, 0]))],
                ["feature map", *format_grid(_rounded(fmap))],
            ]
        ),
        *format_table(("digit", "score", "probability"), _scores_rows(t)),
        s["error"],
        s["backprop"],
        *side_by_side(
            [
                ["dL/dw", *format_grid(_rounded(first.dw))],
                ["w after", *format_grid(_rounded(first.w))],
            ]
        ),
        s["bias_gradient"],
        s["update"],
        s["repeat"],
        *format_table(STEP_HEADER, _step_rows(t)),
        "final filter:",
        *format_grid(_rounded(t.steps[-1].w)),
        f"final bias: {number(t.steps[-1].b)}",
        s["evaluate"],
    ]


def train_step_html(t: TrainStepWalk) -> str:
    """The same steps: grids for the filter, image, feature map and gradients, two tables."""
    s = _sentences(t)
    fmap = _first_image(t)[0]
    first, last = t.steps[0], t.steps[-1]
    return display.block(
        *(display.text(s[key]) for key in ("data", "setup", "learned", "init")),
        html_grid(_rounded(t.w0)),
        display.text(s["loss"]),
        display.text(s["forward"]),
        display.row(
            labelled("image 0", _rounded(t.images[0, 0])),
            labelled("feature map", _rounded(fmap)),
            display.table(("digit", "score", "probability"), _scores_rows(t)),
        ),
        display.text(s["error"]),
        display.text(s["backprop"]),
        display.row(labelled("dL/dw", _rounded(first.dw)), labelled("w after", _rounded(first.w))),
        display.text(s["bias_gradient"]),
        display.text(s["update"]),
        display.text(s["repeat"]),
        display.table(STEP_HEADER, _step_rows(t)),
        display.row(labelled(f"final filter (bias {number(last.b)})", _rounded(last.w))),
        display.text(s["evaluate"]),
    )
