"""Prediction heads trained on frozen unit embeddings.

The heads follow the evaluation protocol of CaLLiPer and AETHER (same lab): a
linear probe and an MLP with one hidden layer of 64 units; CityRep adds an MLP
with 1024 hidden units. All train with Adam (learning rate 1e-3) on batches of
128 for at most 300 epochs. Training stops when the validation loss has not
improved for 10 epochs, and the head gets back the weights of its best
validation epoch.

The loss depends on the task type: cross-entropy for classification, the
KL divergence between the target distribution and the log-softmax of the
head for distributions, and the mean squared error for regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HEADS = ("linear", "mlp", "mlp1024")
LOSSES = ("cross_entropy", "kl", "mse")


@dataclass(frozen=True)
class HeadConfig:
    """Optimisation settings of the heads."""

    learning_rate: float = 1e-3
    batch_size: int = 128
    max_epochs: int = 300
    patience: int = 10
    mlp_hidden: int = 64
    wide_mlp_hidden: int = 1024


def build_head(kind: str, in_dim: int, out_dim: int, config: HeadConfig = HeadConfig()) -> nn.Module:
    """Create a ``linear``, ``mlp`` (64 hidden units) or ``mlp1024`` (1024 hidden units, CityRep) head."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind in ("mlp", "mlp1024"):
        hidden = config.mlp_hidden if kind == "mlp" else config.wide_mlp_hidden
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
    raise ValueError(f"unknown head {kind!r}; expected one of {HEADS}")


class StackedHeads(nn.Module):
    """Independent copies of one head architecture, evaluated together with batched matrix products.

    Each seed gets exactly the updates it would get alone, because the loss
    is a sum over seeds and Adam works per element. The stack pays the
    per-step overhead of PyTorch once instead of once per seed.
    """

    def __init__(self, heads: list[nn.Module]):
        super().__init__()
        layers = [[module for module in head.modules() if isinstance(module, nn.Linear)] for head in heads]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([head[i].weight.detach().T for head in layers])) for i in range(len(layers[0]))
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([head[i].bias.detach()[None, :] for head in layers]))
            for i in range(len(layers[0]))
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Map ``(heads, batch, in)`` to ``(heads, batch, out)``, with ReLU between layers."""
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            features = torch.baddbmm(bias, features, weight)
            if index < len(self.weights) - 1:
                features = torch.relu(features)
        return features

    def snapshot(self, index: int) -> list[torch.Tensor]:
        """Copy the parameters of head ``index``."""
        return [parameter[index].detach().clone() for parameter in [*self.weights, *self.biases]]

    def export(self, head: nn.Module, parameters: list[torch.Tensor]) -> nn.Module:
        """Write snapshot ``parameters`` into the matching layers of ``head``."""
        linears = [module for module in head.modules() if isinstance(module, nn.Linear)]
        weights, biases = parameters[: len(linears)], parameters[len(linears) :]
        with torch.no_grad():
            for linear, weight, bias in zip(linears, weights, biases):
                linear.weight.copy_(weight.T)
                linear.bias.copy_(bias[0])
        return head.eval()


def _per_head_loss(outputs: torch.Tensor, targets: torch.Tensor, loss: str = "cross_entropy") -> torch.Tensor:
    """Mean loss of each head over the batch: ``(heads, batch, out)`` outputs give ``(heads,)`` losses."""
    heads, batch, width = outputs.shape
    if loss == "cross_entropy":
        losses = F.cross_entropy(outputs.reshape(-1, width), targets.reshape(-1), reduction="none")
        return losses.view(heads, batch).mean(dim=1)
    if loss == "kl":
        # KL(target || predicted) summed over classes; xlogy makes 0 * log 0 = 0 for empty classes.
        log_predicted = torch.log_softmax(outputs, dim=-1)
        return (torch.xlogy(targets, targets) - targets * log_predicted).sum(dim=-1).mean(dim=1)
    if loss == "mse":
        return ((outputs - targets) ** 2).mean(dim=(1, 2))
    raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")


def fit_heads(
    heads: list[nn.Module],
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    seeds: list[int],
    loss: str = "cross_entropy",
    config: HeadConfig = HeadConfig(),
) -> tuple[list[nn.Module], list[int]]:
    """Train one head per seed with early stopping on each head's validation loss.

    ``seeds[i]`` drives the batch order of ``heads[i]``; the heads must be
    initialised already (by the caller, from the same seed). Each head stops
    after ``config.patience`` epochs without improvement and gets back the
    weights of its best validation epoch.

    Args:
        train, validation: features and targets. Targets are ``(n,)`` class
            ids for ``cross_entropy``, ``(n, k)`` distributions (rows sum to
            1) for ``kl`` and ``(n, k)`` values for ``mse``.
        loss: ``cross_entropy``, ``kl`` or ``mse``.

    Returns:
        The trained heads and the number of epochs each one ran.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    features, targets = (torch.from_numpy(np.ascontiguousarray(a)) for a in train)
    val_features, val_targets = (torch.from_numpy(np.ascontiguousarray(a)) for a in validation)
    if loss == "cross_entropy":
        targets, val_targets = targets.long(), val_targets.long()
    else:
        targets, val_targets = targets.float(), val_targets.float()
    count = len(heads)
    stack = StackedHeads(heads)
    optimiser = torch.optim.Adam(stack.parameters(), lr=config.learning_rate)
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    val_batch = val_features.expand(count, -1, -1)
    val_goal = val_targets.expand(count, *val_targets.shape)

    best_loss = [float("inf")] * count
    best_state = [stack.snapshot(i) for i in range(count)]
    stale = [0] * count
    stopped_at: list[int | None] = [None] * count
    for epoch in range(1, config.max_epochs + 1):
        orders = torch.stack([torch.randperm(len(features), generator=generator) for generator in generators])
        stack.train()
        for start in range(0, len(features), config.batch_size):
            batch = orders[:, start : start + config.batch_size]
            total = _per_head_loss(stack(features[batch]), targets[batch], loss).sum()
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            optimiser.step()
        stack.eval()
        with torch.no_grad():
            val_losses = _per_head_loss(stack(val_batch), val_goal, loss).tolist()
        for i, val_loss in enumerate(val_losses):
            if stopped_at[i] is not None:
                continue
            if val_loss < best_loss[i] - 1e-6:
                best_loss[i], best_state[i], stale[i] = val_loss, stack.snapshot(i), 0
            else:
                stale[i] += 1
                if stale[i] >= config.patience:
                    stopped_at[i] = epoch
        # A head that has stopped keeps training with the others, which changes
        # nothing: its best weights are kept aside and restored below.
        if all(stop is not None for stop in stopped_at):
            break
    epochs = [stop if stop is not None else epoch for stop in stopped_at]
    return [stack.export(head, state) for head, state in zip(heads, best_state)], epochs


def fit_classifiers(
    heads: list[nn.Module],
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    seeds: list[int],
    config: HeadConfig = HeadConfig(),
) -> tuple[list[nn.Module], list[int]]:
    """Train classification heads with cross-entropy; see :func:`fit_heads`."""
    return fit_heads(heads, train, validation, seeds=seeds, loss="cross_entropy", config=config)


def fit_classifier(
    head: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    seed: int,
    config: HeadConfig = HeadConfig(),
) -> tuple[nn.Module, int]:
    """Train one ``head``; see :func:`fit_classifiers`."""
    heads, epochs = fit_classifiers([head], train, validation, seeds=[seed], config=config)
    return heads[0], epochs[0]


@torch.no_grad()
def predict_classes(head: nn.Module, features: np.ndarray) -> np.ndarray:
    """Return the arg-max class of every row."""
    return head(torch.from_numpy(np.ascontiguousarray(features))).argmax(dim=1).numpy()


@torch.no_grad()
def predict_distributions(head: nn.Module, features: np.ndarray) -> np.ndarray:
    """Return the softmax of the head's outputs: one distribution per row."""
    return torch.softmax(head(torch.from_numpy(np.ascontiguousarray(features))), dim=1).numpy()


@torch.no_grad()
def predict_values(head: nn.Module, features: np.ndarray) -> np.ndarray:
    """Return the raw ``(n, k)`` outputs of a regression head."""
    return head(torch.from_numpy(np.ascontiguousarray(features))).numpy()
