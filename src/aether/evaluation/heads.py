"""Prediction heads trained on frozen unit embeddings.

The protocol of the CaLLiPer/AETHER family: a linear probe and an MLP with
one hidden layer of 64 units, Adam with learning rate 1e-3, batches of 128,
at most 300 epochs, early stopping when the validation loss has not improved
for 10 epochs, and the weights of the best validation epoch restored.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HEADS = ("linear", "mlp")


@dataclass(frozen=True)
class HeadConfig:
    """Optimisation settings of the heads."""

    learning_rate: float = 1e-3
    batch_size: int = 128
    max_epochs: int = 300
    patience: int = 10
    mlp_hidden: int = 64


def build_head(kind: str, in_dim: int, out_dim: int, config: HeadConfig = HeadConfig()) -> nn.Module:
    """Create a ``linear`` or ``mlp`` head."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_dim, config.mlp_hidden), nn.ReLU(), nn.Linear(config.mlp_hidden, out_dim))
    raise ValueError(f"unknown head {kind!r}; expected one of {HEADS}")


def fit_classifier(
    head: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    seed: int,
    config: HeadConfig = HeadConfig(),
) -> tuple[nn.Module, int]:
    """Train ``head`` with cross-entropy and early stopping on the validation loss.

    Returns:
        The head with the weights of its best validation epoch, and the
        number of epochs run.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    features, targets = (torch.from_numpy(np.ascontiguousarray(a)) for a in train)
    val_features, val_targets = (torch.from_numpy(np.ascontiguousarray(a)) for a in validation)
    targets, val_targets = targets.long(), val_targets.long()
    optimiser = torch.optim.Adam(head.parameters(), lr=config.learning_rate)

    best_loss, best_state, stale, epoch = float("inf"), copy.deepcopy(head.state_dict()), 0, 0
    for epoch in range(1, config.max_epochs + 1):
        head.train()
        order = torch.randperm(len(features), generator=generator)
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = F.cross_entropy(head(features[batch]), targets[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        head.eval()
        with torch.no_grad():
            val_loss = F.cross_entropy(head(val_features), val_targets).item()
        if val_loss < best_loss - 1e-6:
            best_loss, best_state, stale = val_loss, copy.deepcopy(head.state_dict()), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    head.load_state_dict(best_state)
    return head.eval(), epoch


@torch.no_grad()
def predict_classes(head: nn.Module, features: np.ndarray) -> np.ndarray:
    """Return the arg-max class of every row."""
    return head(torch.from_numpy(np.ascontiguousarray(features))).argmax(dim=1).numpy()
