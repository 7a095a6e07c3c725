"""Recording what a model computes inside: the attention weights of every layer and head.

A ViT returns logits and nothing else; to look inside, wrap the forward pass::

    with record_attention(model) as record:
        logits = model(images)
    record.weights       # one (B, h, 1 + N, 1 + N) tensor per encoder block, first block first
    record.stacked()     # (L, B, h, 1 + N, 1 + N)

While recording, each attention module takes the hand-written path (which has the weights in hand)
instead of the fused kernel; on leaving the block everything is as it was, also after an error.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from .attention import MultiHeadSelfAttention

__all__ = ["AttentionRecord", "record_attention"]


@dataclass
class AttentionRecord:
    """The attention weights recorded during forward passes, one entry per attention module call.

    ``weights``: ``(B, h, N, N)`` tensors (detached), in the order the modules ran: for one forward pass
    of a ViT, block 0 first. Each row sums to 1 (row: the query token, column: the key token).
    """

    weights: list[torch.Tensor] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.weights)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.weights[index]

    def stacked(self) -> torch.Tensor:
        """All recorded weights as one tensor ``(L, B, h, N, N)``."""
        if not self.weights:
            raise ValueError("nothing was recorded: run the model inside the `with record_attention(model)` block")
        return torch.stack(self.weights)


@contextmanager
def record_attention(model: nn.Module):
    """Record the attention weights of every :class:`MultiHeadSelfAttention` inside ``model`` while the
    block runs; yields an :class:`AttentionRecord`."""
    modules = [m for m in model.modules() if isinstance(m, MultiHeadSelfAttention)]
    if not modules:
        raise ValueError(f"model has no MultiHeadSelfAttention modules to record (got a {type(model).__name__})")
    busy = [m for m in modules if m.recorded is not None]
    if busy:
        raise RuntimeError("this model's attention is already being recorded; leave the other block first")
    record = AttentionRecord()
    for module in modules:
        module.recorded = record.weights
    try:
        yield record
    finally:
        for module in modules:
            module.recorded = None
