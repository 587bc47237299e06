"""Speed and memory measurements of study configurations (``tools/benchmark.py``).

Built for a noisy shared machine: everything that is compared runs interleaved in one
process and is reported as medians (:mod:`.timing`). The same code runs on the CPU and on
CUDA (synchronised timing, AMP from ``SOLVER.AMP``, ``max_memory_allocated``).
"""

from .suite import BREAKDOWN_COLUMNS, ROOFLINE_COLUMNS, TABLE_COLUMNS, Settings, run

__all__ = ["BREAKDOWN_COLUMNS", "ROOFLINE_COLUMNS", "TABLE_COLUMNS", "Settings", "run"]
