"""Run directories: layout, report, and loading a trained model back."""

from cnnlab.runs.load import LoadedRun, load_run
from cnnlab.runs.outputs import write_report

__all__ = ["LoadedRun", "load_run", "write_report"]
