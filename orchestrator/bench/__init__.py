"""`orchestrator bench`: size, speed and quality of GGUF models, measured together on this machine.

`run_bench` plans the run: quality once per model (the base model first, so the others can be compared
with its saved distributions), then the speed measurements repeated with the model order alternating,
each model run in a fresh process so that its peak RSS is its own. The plan is in `run.py`; the measurements in
`quality.py`, `speed.py`, `machine.py` and `footprint.py`; tables and plots in `report.py`. With an `EvalTask`,
each model also answers an `orchestrator eval` question set (task accuracy), after the speed runs.
"""

from orchestrator.bench.footprint import (
    ModelFootprint,
    format_quant_mix,
    model_footprint,
)
from orchestrator.bench.run import (
    BenchOptions,
    BenchReport,
    EvalTask,
    ModelResult,
    default_text_path,
    read_text_file,
    run_bench,
)
from orchestrator.timing import GenerationStats, GenerationTimer

__all__ = [
    "BenchOptions",
    "BenchReport",
    "EvalTask",
    "GenerationStats",
    "GenerationTimer",
    "ModelFootprint",
    "ModelResult",
    "default_text_path",
    "format_quant_mix",
    "model_footprint",
    "read_text_file",
    "run_bench",
]
