"""Detectron2 checkpointer that writes atomically and never unpickles code."""

from __future__ import annotations

import glob
import os
import pickle
import tempfile
import zipfile

import torch
from detectron2.checkpoint import DetectionCheckpointer

from ..atomic import FILE_MODE, atomic_write_text
from ..run_files import BEST_MODEL, FINAL_MODEL, LAST_CHECKPOINT, periodic_checkpoint

# What torch.load raises on a truncated or corrupt file.
UNREADABLE = (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile)


class StudyCheckpointer(DetectionCheckpointer):
    """Checkpoints are complete or absent (temporary file, then rename, then
    ``last_checkpoint``); loading is ``weights_only``, so one carrying code is refused."""

    resumed = False
    _last_saved: tuple[int, str] | None = None  # (iteration, path) of this process's last save

    def save(self, name: str, tag_last: bool = True, **extra) -> None:
        """``model_final`` is a hard link to a periodic checkpoint of the same iteration."""
        if not self.save_dir or not self.save_to_disk:
            return
        if name == FINAL_MODEL and self._last_saved is not None:
            iteration, source = self._last_saved
            if iteration == extra.get("iteration") and os.path.isfile(source):
                self.publish_link(source, f"{name}.pth")
                if tag_last:
                    self.tag_last_checkpoint(f"{name}.pth")
                return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(extra)
        os.makedirs(self.save_dir, exist_ok=True)
        path = os.path.join(self.save_dir, f"{name}.pth")
        self.logger.info("Saving checkpoint to %s", path)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.save_dir)
        os.fchmod(fd, FILE_MODE)  # mkstemp's private 0600 would hide it from colleagues
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
        self._last_saved = (extra.get("iteration"), path)
        if tag_last:
            self.tag_last_checkpoint(f"{name}.pth")

    def publish_link(self, source: str, name: str) -> None:
        tmp = os.path.join(self.save_dir, f".{name}.link")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.link(source, tmp)
        os.replace(tmp, os.path.join(self.save_dir, name))

    def prune(self, keep: int) -> None:
        """All but the newest ``keep`` periodic checkpoints, found by scanning the folder (so
        those written before a resume too)."""
        for path in self._periodic_files()[keep:]:
            self.logger.info("Removing old checkpoint %s", path)
            os.unlink(path)

    def _periodic_files(self) -> list[str]:
        pattern = os.path.join(self.save_dir, periodic_checkpoint(0).replace("0000000", "[0-9]*"))
        return sorted(glob.glob(pattern), reverse=True)

    def resume_or_load(self, path: str, *, resume: bool = True) -> dict:
        """Resume from the newest readable checkpoint (a truncated one falls back to the one
        before); ``self.resumed`` says whether any training state was restored."""
        self.resumed = False
        if resume and self.has_checkpoint():
            tagged = self.get_checkpoint_file()
            for candidate in dict.fromkeys([tagged, *self._periodic_files()]):
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

    def save_best(self, **extra) -> None:
        """A full checkpoint that ``--resume`` never picks up by itself."""
        self.save(BEST_MODEL, tag_last=False, **extra)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        if self.save_to_disk:
            atomic_write_text(
                os.path.join(self.save_dir, LAST_CHECKPOINT.name), last_filename_basename
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
