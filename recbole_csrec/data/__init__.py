"""Data: built-in datasets (materialised offline on first use) and training-data subsets."""
from recbole_csrec.data.builtin import BUILTIN_DATASETS, ensure_dataset_files
from recbole_csrec.data.subsample import reseed_loader, subsample_sequences

__all__ = ["BUILTIN_DATASETS", "ensure_dataset_files", "reseed_loader", "subsample_sequences"]
