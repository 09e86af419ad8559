"""Run directories: the recorder that writes them, their layout, the job that trains from
names, the report, and loading a trained model back.

>>> from cnnlab.runs import RunRecorder  # doctest: +SKIP
>>> Trainer(model, callbacks=[RunRecorder("runs/mine")]).fit(train, val)  # doctest: +SKIP
"""

from cnnlab.runs.ensemble import EnsembleEvaluation, ensemble_runs
from cnnlab.runs.job import TrainJob, resume_job, run_job
from cnnlab.runs.layout import RunLayout
from cnnlab.runs.load import LoadedRun, load_run
from cnnlab.runs.recipe import apply_recipe
from cnnlab.runs.recorder import RunRecorder
from cnnlab.runs.report import write_report
from cnnlab.runs.tensorboard import TensorBoardLogger

__all__ = [
    "EnsembleEvaluation",
    "LoadedRun",
    "RunLayout",
    "RunRecorder",
    "TensorBoardLogger",
    "TrainJob",
    "apply_recipe",
    "ensemble_runs",
    "load_run",
    "resume_job",
    "run_job",
    "write_report",
]
