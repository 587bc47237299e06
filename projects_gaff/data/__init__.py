"""Data for projects_gaff: RGB + thermal + event datasets, mapper, splits and the demo set,
registered at import as ``gaff_demo_{train,val,test,all}`` (generated on first use)."""

from .demo import DEMO_CLASSES, DEMO_VERSION, ensure_demo, generate_demo, render_demo_frame
from .errors import DatasetError
from .events import EventSynthesis, synthesize_events
from .frames import CHANNELS, channel_indices, read_frame
from .mapper import GAFFDatasetMapper, build_gaff_augmentation
from .npy_yolo import convert_to_npy_yolo, load_npy_yolo, write_npy_yolo
from .paired import load_coco_multimodal, load_paired
from .register import (
    DEMO_NAME,
    register_datasets_from_config,
    register_demo_datasets,
    register_gaff_dataset,
)
from .sample_rng import (
    DropFirst,
    ResumableTrainingSampler,
    build_resumable_train_loader,
    resume_position,
)
from .splits import SPLITS, save_split_manifest, select_split, split_manifest, split_of
from .summary import channel_statistics, format_summary, summarize_dataset

register_demo_datasets()

__all__ = [
    "CHANNELS",
    "DEMO_CLASSES",
    "DEMO_NAME",
    "DEMO_VERSION",
    "SPLITS",
    "DatasetError",
    "DropFirst",
    "EventSynthesis",
    "GAFFDatasetMapper",
    "ResumableTrainingSampler",
    "build_gaff_augmentation",
    "build_resumable_train_loader",
    "channel_indices",
    "channel_statistics",
    "convert_to_npy_yolo",
    "ensure_demo",
    "format_summary",
    "generate_demo",
    "load_coco_multimodal",
    "load_npy_yolo",
    "load_paired",
    "read_frame",
    "register_datasets_from_config",
    "register_demo_datasets",
    "register_gaff_dataset",
    "render_demo_frame",
    "resume_position",
    "save_split_manifest",
    "select_split",
    "split_manifest",
    "split_of",
    "summarize_dataset",
    "synthesize_events",
    "write_npy_yolo",
]
