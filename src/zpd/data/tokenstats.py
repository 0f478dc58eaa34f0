"""Teacher-forced per-token statistics of a causal LM, summed per text segment.

What it is: the batched, padded, length-sorted forward pass that every likelihood-based scorer in
``zpd.data`` shares. An item is a list of segments (token-id lists, e.g. ``[prompt, answer]``);
the model reads ``[context] + seg_0 + seg_1 + ...`` and for every token of every segment we sum
its negative log-likelihood, whether the argmax predicted it, and its EL2N error
``||softmax(logits) - onehot(token)||_2`` (arXiv 2107.07075). Distance/IFD, EL2N and forgetting
scores are ratios and means of these sums. What it is not: generation, or gradient work (``less``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from zpd.data.errors import DataError
from zpd.data.model_io import LoadedModel

STATS = ("nll", "correct", "el2n")

# Cap on the logits tensor of one forward pass (batch x length x vocab x 4 bytes).
_LOGIT_BYTES = 256 * 2**20


@dataclass
class SegmentStats:
    """Sums of per-token statistics for each (item, segment)."""

    count: np.ndarray  # (N, S) tokens scored in each segment
    sums: dict[str, np.ndarray]  # stat -> (N, S) sum over the segment's tokens
    truncated: np.ndarray  # (N,) bool: the sequence was cut to the model's length
    tokens: int  # non-pad tokens fed to the model (for throughput accounting)

    def mean(self, stat: str) -> np.ndarray:
        """(N, S) per-token mean; NaN where a segment has no scored token."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums[stat] / np.where(self.count > 0, self.count, np.nan)


def auto_batch_tokens(vocab_size: int) -> int:
    """Padded tokens per forward pass so that the logits stay under ~256 MiB, and 4,096 at most:
    past that, small-vocabulary models got slower on CPU (the lab's model: 4,096 tokens ran
    20-40 % faster than 16,384 in the same process; `benchmarks/data_nll.py`)."""
    return int(max(256, min(4096, _LOGIT_BYTES // (4 * max(1, vocab_size)))))


def _build(items: Sequence[Sequence[Sequence[int]]], prefix: Sequence[int], max_len: int
           ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Prefix (the tokenizer's convention) + segments; label each token with its segment index
    + 1 (0 = prefix)."""
    seqs, labels = [], []
    truncated = np.zeros(len(items), dtype=bool)
    for i, segs in enumerate(items):
        ids = [int(t) for t in prefix]
        lab = [0] * len(ids)
        for s, seg in enumerate(segs):
            ids.extend(int(t) for t in seg)
            lab.extend([s + 1] * len(seg))
        if len(ids) > max_len:
            ids, lab = ids[:max_len], lab[:max_len]
            truncated[i] = True
        seqs.append(np.asarray(ids, dtype=np.int64))
        labels.append(np.asarray(lab, dtype=np.int64))
    return seqs, labels, truncated


def _forward_batch(lm: LoadedModel, seqs: list[np.ndarray], labels: list[np.ndarray],
                   n_seg: int, stats: Sequence[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One padded forward pass; returns counts (b, S+1) and stat sums (b, S+1), bucket 0 dropped."""
    b, width = len(seqs), max(len(s) for s in seqs)
    # filler for pad positions: any id but the tokenizer's pad id (whose presence without a mask
    # makes transformers warn); its value never reaches a scored token
    pad_id = lm.tokenizer.pad_token_id
    filler = 0 if pad_id is None or pad_id != 0 else 1
    ids = torch.full((b, width), filler, dtype=torch.long)  # (b, T)
    lab = torch.zeros((b, width), dtype=torch.long)  # (b, T); 0 = context or padding
    for i, (s, la) in enumerate(zip(seqs, labels)):
        ids[i, : len(s)] = torch.from_numpy(s)
        lab[i, : len(la)] = torch.from_numpy(la)
    dev = lm.device
    # Right padding under a causal mask: a real token never attends to the pads after it, so no
    # attention mask is needed, and SDPA keeps its fast is_causal path (a padding mask would force
    # the slower masked kernel). Pad positions' outputs are dropped by the labels.
    logits = lm.model(input_ids=ids.to(dev), use_cache=False).logits
    logits = logits[:, :-1].float()  # (b, T-1, V): position t predicts token t+1
    target = ids[:, 1:].to(dev)  # (b, T-1)
    seg = lab[:, 1:].to(dev)  # (b, T-1) segment of each predicted token
    vocab = logits.shape[-1]
    nll = F.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1), reduction="none")
    nll = nll.view(b, -1)  # (b, T-1)
    per_token: dict[str, torch.Tensor] = {"nll": nll}
    if "correct" in stats:
        per_token["correct"] = (logits.argmax(-1) == target).float()
    if "el2n" in stats:
        probs = logits.softmax(-1)  # (b, T-1, V)
        p_y = torch.exp(-nll)
        sq = (probs * probs).sum(-1) - 2.0 * p_y + 1.0  # ||p - e_y||^2
        per_token["el2n"] = sq.clamp_min(0.0).sqrt()
    zeros = torch.zeros((b, n_seg + 1), dtype=torch.float64, device=dev)
    count = zeros.clone().scatter_add_(1, seg, torch.ones_like(nll, dtype=torch.float64))
    sums = {k: zeros.clone().scatter_add_(1, seg, per_token[k].double()) for k in stats}
    return count, sums


@torch.inference_mode()
def segment_stats(
    lm: LoadedModel,
    items: Sequence[Sequence[Sequence[int]]],
    *,
    stats: Sequence[str] = ("nll",),
    batch_tokens: int | None = None,
    max_length: int | None = None,
) -> SegmentStats:
    """Score every segment of every item in length-sorted, token-budgeted batches.

    ``items[i]`` is a list of S token-id lists (the same S for every item). Sequences longer than
    ``max_length`` (default: the model's) are cut at the end and flagged in ``truncated``.
    """
    unknown = set(stats) - set(STATS)
    if unknown or "nll" not in stats:
        raise DataError(f"stats must include 'nll' and come from {STATS}; got {tuple(stats)}")
    n = len(items)
    n_seg = len(items[0]) if n else 0
    if any(len(segs) != n_seg for segs in items):
        raise DataError("every item must have the same number of segments")
    limit = max_length or lm.max_length
    budget = batch_tokens or auto_batch_tokens(int(lm.model.config.vocab_size))
    seqs, labels, truncated = _build(items, lm.prefix_ids, limit)
    count = np.zeros((n, n_seg), dtype=np.float64)  # (N, S)
    sums = {k: np.zeros((n, n_seg), dtype=np.float64) for k in stats}
    order = np.argsort([-len(s) for s in seqs], kind="stable")  # longest first: fail fast on OOM
    start, fed = 0, 0
    while start < n:
        width = max(2, len(seqs[order[start]]))
        take = order[start : start + max(1, budget // width)]
        c, s = _forward_batch(lm, [seqs[i] for i in take], [labels[i] for i in take], n_seg, stats)
        count[take] = c[:, 1:].cpu().numpy()
        for k in stats:
            sums[k][take] = s[k][:, 1:].cpu().numpy()
        fed += int(sum(len(seqs[i]) for i in take))
        start += len(take)
    return SegmentStats(count=count, sums=sums, truncated=truncated, tokens=fed)
