"""Cached soft labels: teacher outputs computed once per training row, reused by every student epoch.

Frozen teachers in eval mode are deterministic, so their logits for a training row never change.
`build_soft_label_cache` runs them once, in inference mode and large batches, over the student's
training rows and stores the result in fp16:

- `ensemble: logits`: one table e_u [n_rows, n_items] (the mean of the teachers' logits);
- `ensemble: probs`: one table per teacher [m, n_rows, n_items], so that
  log mean_k softmax(q_k/T) stays exact for every T (it cannot be folded into one table).

Each row is shifted by its maximum before the fp16 cast (softmax does not change, values are
<= 0 and the largest logits keep the finest fp16 steps). Batches find their rows through the
`csrec_row_id` field that `add_row_ids` adds to the training dataset's `inter_feat`; RecBole's
training dataloader copies every inter_feat field into each (shuffled) batch.

The table lives on `config['device']` (CPU memory on CPU, GPU memory on a GPU) and is bounded by
`soft_label_cache_mb`. The top-K approximation (per row and table, the K largest logits and their
item ids; every other item gets the mean of the logits outside the top K) is built here too; which
cache a run gets when the exact one does not fit (disk, top-K, on the fly) is placement.py's choice.

A cache can be written to a file (atomic: temp file, then rename) and loaded by another process
that trains a student on the same teachers and the same training data (checked by fingerprint);
each tensor's crc32 is saved with it, so a file edited after it was written is refused.
"""
from __future__ import annotations

import hashlib
from logging import getLogger
from typing import Any, Iterator

import torch
from recbole.data.interaction import Interaction

from recbole_csrec.atomic import atomic_file
from recbole_csrec.checksums import buffer_crc32
from recbole_csrec.errors import CSRecError
from recbole_csrec.soft_labels.base import SoftLabelBatch, SoftLabelSource
from recbole_csrec.soft_labels.ensemble import TeacherEnsemble, combine_teacher_logits
from recbole_csrec.soft_labels.prefix_sharing import plan_prefix_sharing, shared_prefix_logits

ROW_ID_FIELD = "csrec_row_id"
CACHE_FORMAT = "recbole_csrec.soft_label_cache/1"
PATH_EXACT, PATH_TOPK, PATH_ON_THE_FLY = "exact", "topk", "on-the-fly"
_FP16_BYTES, _INDEX_BYTES = 2, 4


def add_row_ids(dataset) -> None:
    """Number the rows of `dataset.inter_feat` (0..n-1) in a field that batches carry along."""
    feat = dataset.inter_feat
    if ROW_ID_FIELD not in feat.interaction:
        feat[ROW_ID_FIELD] = torch.arange(len(feat), dtype=torch.long)


def training_fingerprint(dataset) -> str:
    """A hash of the training rows' histories and targets, in row order: a cache built for other
    data (or another row order) must never be read as if it were this one's."""
    feat = dataset.inter_feat
    digest = hashlib.sha1()
    for name in sorted(feat.interaction):
        if name == ROW_ID_FIELD:
            continue
        tensor = feat[name]
        if tensor.dtype in (torch.int64, torch.int32):
            digest.update(name.encode())
            digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def tensor_crc32(tensor: torch.Tensor) -> int:
    """crc32 of a CPU tensor's bytes, whatever its dtype."""
    return buffer_crc32(tensor.contiguous().reshape(-1).view(torch.uint8).numpy())


def cache_bytes(path: str, n_rows: int, n_items: int, tables: int, topk: int = 0) -> int:
    """Bytes a cache of `tables` tables takes on the chosen path."""
    if path == PATH_EXACT:
        return tables * n_rows * n_items * _FP16_BYTES
    if path == PATH_TOPK:
        return tables * n_rows * (topk * (_FP16_BYTES + _INDEX_BYTES) + _FP16_BYTES)
    return 0


class _CachedSource(SoftLabelSource):
    """Shared by the exact and top-K caches: row lookup, meta, save/load."""

    path = ""

    def __init__(self, tensors: dict[str, torch.Tensor], mode: str, meta: dict[str, Any]) -> None:
        self.tensors = tensors
        self.mode = mode
        self.meta = dict(meta)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    def _rows(self, interaction: Interaction) -> torch.Tensor:
        if ROW_ID_FIELD not in interaction.interaction:
            raise CSRecError(f"batch has no '{ROW_ID_FIELD}' field: the soft-label cache only answers "
                             "batches of the training data it was built for")
        device = next(iter(self.tensors.values())).device
        return interaction[ROW_ID_FIELD].to(device)

    def log_probs(self, interaction: Interaction, temperature: float) -> torch.Tensor:
        logits = self.lookup(self._rows(interaction))
        target_device = interaction[ROW_ID_FIELD].device
        return combine_teacher_logits(logits.to(target_device, non_blocking=True), temperature, self.mode)

    def lookup(self, rows: torch.Tensor) -> torch.Tensor:
        """[k, B, n_items] stored logits of `rows` (fp16, padding column -inf)."""
        raise NotImplementedError

    def to(self, device: torch.device) -> "_CachedSource":
        self.tensors = {k: v.to(device) for k, v in self.tensors.items()}
        return self

    def save(self, file: str) -> None:
        """Write the cache to `file` atomically (temp file in the same folder, then rename)."""
        tensors = {k: v.cpu() for k, v in self.tensors.items()}
        with atomic_file(file) as tmp:
            torch.save({"format": CACHE_FORMAT, "path": self.path, "mode": self.mode,
                        "meta": self.meta, "tensors": tensors,
                        "crc32": {k: tensor_crc32(v) for k, v in tensors.items()}}, tmp)


class CachedSoftLabels(_CachedSource):
    """The exact cache: `table` [k, n_rows, n_items] fp16 (k = 1 for logits, m for probs).

    With `ensemble: logits` the first request for a temperature T turns the table, in place and
    once, into fp16 log softmax(e_u/T) (as precise as the fp16 logits it replaces: both round
    values of the same size) and records each row's sum_j q_j log q_j. A student step then reads
    its rows and needs no softmax of its own: one gather instead of gather, sum, scale and
    log-softmax, and no entropy pass in the loss. Another T later re-tempers the table
    (log softmax(e/T2) = log softmax(log softmax(e/T1) * T1/T2)). Save a cache before using it.
    """

    path = PATH_EXACT
    _CHUNK_ROWS = 1024

    def __init__(self, tensors: dict[str, torch.Tensor], mode: str, meta: dict[str, Any]) -> None:
        super().__init__(tensors, mode, meta)
        self._temperature: float | None = None  # None: the table holds logits e_u
        self._q_log_q: torch.Tensor | None = None

    def lookup(self, rows: torch.Tensor) -> torch.Tensor:
        if self._temperature is not None:
            raise RuntimeError("the cache table holds tempered log-probabilities now, not logits")
        return self.tensors["table"][:, rows]

    def log_probs(self, interaction: Interaction, temperature: float) -> torch.Tensor:
        if self.mode != "logits":
            return super().log_probs(interaction, temperature)
        return self.batch(interaction, temperature).log_probs.float()

    def batch(self, interaction: Interaction, temperature: float) -> SoftLabelBatch:
        if self.mode != "logits":
            return super().batch(interaction, temperature)
        table = self._tempered(float(temperature))
        rows = self._rows(interaction)
        target_device = interaction[ROW_ID_FIELD].device
        return SoftLabelBatch(table.index_select(0, rows).to(target_device, non_blocking=True),
                              self._q_log_q.index_select(0, rows).to(target_device, non_blocking=True))

    @torch.no_grad()
    def _tempered(self, temperature: float) -> torch.Tensor:
        table = self.tensors["table"][0]
        if self._temperature != temperature:
            scale = (self._temperature or 1.0) / temperature
            q_log_q = torch.empty(table.size(0), dtype=torch.float32, device=table.device)
            for start in range(0, table.size(0), self._CHUNK_ROWS):
                log_q = torch.log_softmax(table[start:start + self._CHUNK_ROWS].float().mul_(scale), dim=-1)
                q_log_q[start:start + self._CHUNK_ROWS] = (log_q.exp() * log_q).nansum(dim=-1)
                table[start:start + self._CHUNK_ROWS] = log_q.to(table.dtype)
            self._temperature, self._q_log_q = temperature, q_log_q
        return table

    def to(self, device: torch.device) -> "CachedSoftLabels":
        super().to(device)
        if self._q_log_q is not None:
            self._q_log_q = self._q_log_q.to(device)
        return self

    def save(self, file: str) -> None:
        if self._temperature is not None:
            raise RuntimeError("a cache must be saved before a student uses it (its table is tempered)")
        super().save(file)


class TopKSoftLabels(_CachedSource):
    """The top-K approximation: `values`/`indices` [k, n_rows, K] and `tail` [k, n_rows]."""

    path = PATH_TOPK

    def lookup(self, rows: torch.Tensor) -> torch.Tensor:
        values, indices = self.tensors["values"][:, rows], self.tensors["indices"][:, rows].long()
        tail = self.tensors["tail"][:, rows]
        dense = tail.unsqueeze(-1).expand(*tail.shape, int(self.meta["n_items"])).clone()
        dense.scatter_(-1, indices, values)
        dense[..., 0] = float("-inf")
        return dense


def _row_by_row(source: TeacherEnsemble, dataset, batch_size: int,
                device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(rows, [m, len(rows), n_items] logits): every training row through every teacher."""
    for start in range(0, len(dataset), batch_size):
        end = min(start + batch_size, len(dataset))
        yield torch.arange(start, end), source.teacher_logits(dataset[start:end].to(device))


LOGIT_CHUNK_BYTES = 512 * 2 ** 20  # fp32 teacher logits held at once while a cache is built


def logit_batch_rows(source: TeacherEnsemble, dataset, batch_size: int) -> int:
    """Rows per teacher batch, so that the m teachers' fp32 logits of one batch stay within
    LOGIT_CHUNK_BYTES even when one all-position pass scores every prefix of a row (at Yelp's size,
    4,096 rows x 9 positions x 20,034 items x 2 teachers would be 5.9 GB)."""
    positions = int(dataset.config["MAX_ITEM_LIST_LENGTH"])
    per_row = len(source.teachers) * positions * int(dataset.item_num) * 4
    return max(1, min(int(batch_size), LOGIT_CHUNK_BYTES // per_row))


@torch.no_grad()
def teacher_logit_chunks(source: TeacherEnsemble, dataset, batch_size: int, device,
                         show_progress: bool = False,
                         share_prefixes: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(rows, [tables, B, n_items] logits) for every training row of `dataset`, as a cache stores
    them: the teachers' mean for `ensemble: logits` (one table), each teacher's for `probs`; each
    row shifted by its maximum (softmax-invariant, values <= 0: the largest keep the finest fp16
    steps); padding column -inf.

    With `share_prefixes`, rows that are prefixes of a longer row of the same user take their
    logits from one all-position pass over that row when the teachers allow it (prefix_sharing).
    """
    add_row_ids(dataset)
    batch_size = logit_batch_rows(source, dataset, batch_size)
    sharing, reason = (plan_prefix_sharing(source, dataset, batch_size, device) if share_prefixes
                       else (None, "share_prefixes=False"))
    getLogger().info(f"soft labels: teacher inference {'shares prefixes' if sharing else 'row by row'} "
                     f"({reason})")
    chunks = (shared_prefix_logits(source, dataset, *sharing, batch_size, device) if sharing
              else _row_by_row(source, dataset, batch_size, device))
    if show_progress:
        from tqdm import tqdm
        chunks = tqdm(chunks, desc="soft-label cache", ncols=100)
    for rows, logits in chunks:                              # logits: [m, B, n_items], padding -inf
        if source.mode == "logits" and logits.size(0) > 1:
            logits = logits.mean(dim=0, keepdim=True)
        yield rows, logits.sub_(logits.max(dim=-1, keepdim=True).values)


def cache_meta(dataset, tables: int, topk: int = 0) -> dict[str, Any]:
    """What identifies a cache's contents besides its teachers: its shape and training rows."""
    return {"n_rows": len(dataset), "n_items": int(dataset.item_num), "tables": tables, "topk": int(topk),
            "fingerprint": training_fingerprint(dataset)}


@torch.no_grad()
def build_soft_label_cache(source: TeacherEnsemble, dataset, path: str = PATH_EXACT, topk: int = 0,
                           batch_size: int = 4096, device: torch.device | str = "cpu",
                           show_progress: bool = False, share_prefixes: bool = True) -> _CachedSource:
    """Run the frozen teachers once over every row of `dataset` and store the result in memory
    (row order; teacher_logit_chunks)."""
    add_row_ids(dataset)
    n_rows, n_items = len(dataset), int(dataset.item_num)
    tables = 1 if source.mode == "logits" else len(source.teachers)
    if path == PATH_EXACT:
        tensors = {"table": torch.empty((tables, n_rows, n_items), dtype=torch.float16, device=device)}
    elif path == PATH_TOPK:
        tensors = {"values": torch.empty((tables, n_rows, topk), dtype=torch.float16, device=device),
                   "indices": torch.empty((tables, n_rows, topk), dtype=torch.int32, device=device),
                   "tail": torch.empty((tables, n_rows), dtype=torch.float16, device=device)}
    else:
        raise ValueError(f"no in-memory cache to build on path '{path}'")
    for rows, logits in teacher_logit_chunks(source, dataset, batch_size, device, show_progress, share_prefixes):
        rows = rows.to(device)
        if path == PATH_EXACT:
            tensors["table"][:, rows] = logits.to(torch.float16)
        else:
            top = logits.topk(topk, dim=-1)
            real = logits[..., 1:]
            tail_sum = real.sum(dim=-1) - top.values.sum(dim=-1)
            tensors["values"][:, rows] = top.values.to(torch.float16)
            tensors["indices"][:, rows] = top.indices.to(torch.int32)
            tensors["tail"][:, rows] = (tail_sum / (n_items - 1 - topk)).to(torch.float16)
    cls = CachedSoftLabels if path == PATH_EXACT else TopKSoftLabels
    return cls(tensors, source.mode, cache_meta(dataset, tables, topk))


def load_soft_label_cache(file: str, dataset, device: torch.device | str = "cpu",
                          mode: str | None = None) -> _CachedSource:
    """Load a cache written by `save` for the student's training `dataset`.

    Raises CSRecError if the file is not a cache, was built for other training rows, or (when
    `mode` is given) for another ensemble mode.
    """
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # unreadable or not a torch file
        raise CSRecError(f"soft-label cache '{file}' cannot be read: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
        raise CSRecError(f"'{file}' is not a recbole_csrec soft-label cache")
    add_row_ids(dataset)
    meta = payload["meta"]
    if meta["fingerprint"] != training_fingerprint(dataset) or meta["n_items"] != dataset.item_num:
        raise CSRecError(f"soft-label cache '{file}' was built for other training data "
                         f"({meta['n_rows']} rows x {meta['n_items']} items)")
    crcs = payload.get("crc32")
    if not isinstance(crcs, dict) or set(crcs) != set(payload["tensors"]):
        raise CSRecError(f"soft-label cache '{file}' has no content checksum (written by an earlier version)")
    edited = [k for k, v in payload["tensors"].items() if tensor_crc32(v) != crcs[k]]
    if edited:
        raise CSRecError(f"soft-label cache '{file}' was edited after it was written "
                         f"(crc32 of {', '.join(edited)} differs)")
    if mode is not None and payload["mode"] != mode:
        raise CSRecError(f"soft-label cache '{file}' holds ensemble '{payload['mode']}', not '{mode}'")
    cls = CachedSoftLabels if payload["path"] == PATH_EXACT else TopKSoftLabels
    return cls(payload["tensors"], payload["mode"], meta).to(device)
