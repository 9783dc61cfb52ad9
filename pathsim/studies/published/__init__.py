"""Published training runs in the product: `pathsim validate` builds each as an experiment, simulates it
and prints predicted beside published (runs.py reads the CSV, experiment.py maps its columns to an
experiment, validate.py simulates and summarises, report.py prints, writes and plots)."""

from pathsim.studies.published.runs import DEFAULT_RUNS, PublishedRun, RowError, read_runs
from pathsim.studies.published.validate import RowResult, Summary, run_rows, summarize

__all__ = ["DEFAULT_RUNS", "PublishedRun", "RowError", "read_runs", "RowResult", "Summary", "run_rows", "summarize"]
