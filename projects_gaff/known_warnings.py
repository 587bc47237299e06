"""Importing this module silences, narrowly (one message each), the third-party warnings
known to be harmless; the tools import it before Detectron2, whose imports emit most of
them. The test suite filters the same ones in setup.cfg."""

from __future__ import annotations

import logging
import warnings

# (message regex, category): Detectron2, fvcore and timm decorate helpers with
# torch.jit.script at import time; torch's meshgrid and setuptools' pkg_resources warn
# about future API changes that do not affect this project.
HARMLESS_WARNINGS = (
    (r"`torch\.jit\.script` is deprecated", FutureWarning),
    (r"`torch\.jit\.script_method` is deprecated", FutureWarning),
    (r"torch\.meshgrid: in an upcoming release, it will be required to pass the", UserWarning),
    (r"pkg_resources is deprecated as an API", UserWarning),
    (r"Deprecated call to `pkg_resources\.declare_namespace", DeprecationWarning),
)  # fmt: skip

# (logger, message start): log records that read like failures but are not. The fast COCO
# evaluator is part of detectron2._C (see README, "Training one experiment"); without it
# Detectron2 uses pycocotools, which gives the same numbers. torch looks for a CUDA toolkit
# to compile extensions, which this project never does. Detectron2's ROI pooler asks
# torch.fx whether it is being traced, through a function torch now warns about.
HARMLESS_LOG_RECORDS = (
    ("detectron2.evaluation.coco_evaluation", "Fast COCO eval is not built"),
    ("torch.utils.cpp_extension", "No CUDA runtime is found"),
    ("torch.fx._symbolic_trace", "is_fx_tracing will return true"),
)


# Module code runs once per process (on first import), so the filters go in once.
for message, category in HARMLESS_WARNINGS:
    warnings.filterwarnings("ignore", message=message, category=category)
for name, start in HARMLESS_LOG_RECORDS:
    logging.getLogger(name).addFilter(
        lambda record, start=start: not str(record.msg).startswith(start)
    )
