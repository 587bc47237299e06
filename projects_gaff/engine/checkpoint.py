"""Detectron2 checkpointer that writes atomically and never unpickles code."""

from __future__ import annotations

import glob
import os
import pickle
import tempfile
import zipfile

import torch
from detectron2.checkpoint import DetectionCheckpointer

from ..atomic import atomic_write_text

BEST_NAME = "best_model"
# What torch.load raises on a truncated or corrupt file.
UNREADABLE = (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile)


class StudyCheckpointer(DetectionCheckpointer):
    """A checkpoint file is either complete or absent: saved to a temporary file, then
    renamed; ``last_checkpoint`` is updated only after that. Loading uses
    ``torch.load(weights_only=True)``, so a checkpoint carrying code is refused.
    """

    resumed = False

    def save(self, name: str, tag_last: bool = True, **extra) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(extra)
        os.makedirs(self.save_dir, exist_ok=True)
        path = os.path.join(self.save_dir, f"{name}.pth")
        self.logger.info("Saving checkpoint to %s", path)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.save_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(data, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        if tag_last:
            self.tag_last_checkpoint(f"{name}.pth")

    def resume_or_load(self, path: str, *, resume: bool = True) -> dict:
        """Resume from the newest readable checkpoint: a truncated or corrupt file (a kill
        or full disk while it was written elsewhere) is logged and the one before it is
        tried. ``self.resumed`` says whether any training state was restored."""
        self.resumed = False
        if resume and self.has_checkpoint():
            for candidate in self._resume_candidates():
                try:
                    checkpoint = self.load(candidate)
                except UNREADABLE as error:
                    self._parsed_url_during_load = None  # Detectron2 resets it only on success
                    self.logger.warning(
                        "Checkpoint %s is unreadable (%s); trying the one before", candidate, error
                    )
                    continue
                self.resumed = True
                return checkpoint
            self.logger.warning(
                "No readable checkpoint in %s: training starts from the beginning", self.save_dir
            )
        return self.load(path, checkpointables=[])

    def _resume_candidates(self) -> list[str]:
        """The tagged last checkpoint, then the periodic ones, newest first."""
        tagged = self.get_checkpoint_file()
        periodic = sorted(glob.glob(os.path.join(self.save_dir, "model_[0-9]*.pth")), reverse=True)
        return list(dict.fromkeys([tagged, *periodic]))

    def save_best(self, **extra) -> None:
        """``best_model.pth``: a full checkpoint that ``--resume`` never picks up by itself."""
        self.save(BEST_NAME, tag_last=False, **extra)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        if self.save_to_disk:
            atomic_write_text(
                os.path.join(self.save_dir, "last_checkpoint"), last_filename_basename
            )

    def _torch_load(self, f):
        return torch.load(f, map_location=torch.device("cpu"), weights_only=True)

    def _load_file(self, filename: str):
        if filename.endswith(".pkl"):
            raise ValueError(
                f"{filename}: pickled Detectron2 model-zoo files can carry code and are not "
                "loaded; convert it to a .pth state dict first"
            )
        return super()._load_file(filename)
