"""The course notes' exercises as reproducible experiments: ``cnnlab run NAME [--quick]``.

Each experiment is a short configuration plus a little analysis on top of the trainer; it
writes a folder with a report (figures, a results table beside the literature) and
``results.json``. Importing this package registers all of them. docs/course-notes.md maps each
section of the course notes to its experiment.

>>> from cnnlab.experiments import list_experiments, run_experiment
>>> report, seconds = run_experiment("dropout", quick=True)  # doctest: +SKIP
"""

from cnnlab.experiments import (  # noqa: F401  (registers the experiments)
    batchnorm,
    dropout,
    ensemble,
    exploding_gradients,
    global_pooling,
    inception,
    invariance,
    lenet5_mnist,
    mnist_cnn,
    resnet_degradation,
    spam_textcnn,
    unet_isbi,
)
from cnnlab.experiments.base import Context, Report
from cnnlab.experiments.registry import (
    experiment_title,
    get_experiment,
    list_experiments,
    register_experiment,
)
from cnnlab.experiments.runner import DEFAULT_OUT, experiment_folder, run_experiment
from cnnlab.experiments.table import collect_results, results_markdown

__all__ = [
    "DEFAULT_OUT",
    "Context",
    "Report",
    "collect_results",
    "experiment_folder",
    "experiment_title",
    "get_experiment",
    "list_experiments",
    "register_experiment",
    "results_markdown",
    "run_experiment",
]
