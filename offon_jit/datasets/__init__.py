"""Datasets in the field's standard format (Minari): export replay buffers, train offline agents on datasets."""

from offon_jit.datasets.minari_io import (
    DatasetError,
    ImportPlan,
    check_dataset,
    check_dataset_id,
    dataset_dir,
    export_buffer,
    import_buffer,
    open_dataset,
    resolve_dataset,
)

__all__ = [
    "DatasetError",
    "ImportPlan",
    "check_dataset",
    "check_dataset_id",
    "dataset_dir",
    "export_buffer",
    "import_buffer",
    "open_dataset",
    "resolve_dataset",
]
