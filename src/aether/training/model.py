"""The AETHER projectors and the contrastive loss.

Architecture and numbers follow Wang et al., "AETHER: AlphaEarth-POI Enriched
Representation Learning" (arXiv:2510.09894):

- AE projector: an MLP 64 -> 256 (ReLU) -> 128 plus a gated linear shortcut
  64 -> 128 whose gate is sigmoid(g) with g initialised at -4, so training
  starts close to the MLP alone; L2-normalise; a post-MLP 128 -> 256 (GELU)
  -> 128; L2-normalise.
- Text projector: one linear layer 384 -> 128; L2-normalise.
- Loss: lambda * InfoNCE(base view, augmented view) + (1 - lambda) *
  InfoNCE(base view, text), both symmetric with in-batch negatives at a
  fixed temperature.

With the default sizes the two projectors have about 0.17 M parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ProjectorConfig:
    """Layer sizes of the projectors."""

    ae_dim: int = 64
    text_dim: int = 384
    hidden_dim: int = 256
    out_dim: int = 128
    gate_init: float = -4.0

    def to_dict(self) -> dict:
        return asdict(self)


class AEProjector(nn.Module):
    """Projects AlphaEarth vectors into the shared 128-d space."""

    def __init__(self, config: ProjectorConfig = ProjectorConfig()):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(config.ae_dim, config.hidden_dim), nn.ReLU(), nn.Linear(config.hidden_dim, config.out_dim)
        )
        self.shortcut = nn.Linear(config.ae_dim, config.out_dim)
        self.gate = nn.Parameter(torch.tensor(float(config.gate_init)))
        self.post = nn.Sequential(
            nn.Linear(config.out_dim, config.hidden_dim), nn.GELU(), nn.Linear(config.hidden_dim, config.out_dim)
        )

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        hidden = self.mlp(vectors) + torch.sigmoid(self.gate) * self.shortcut(vectors)
        hidden = F.normalize(hidden, dim=-1)
        return F.normalize(self.post(hidden), dim=-1)


class TextProjector(nn.Module):
    """Projects sentence embeddings into the shared 128-d space."""

    def __init__(self, config: ProjectorConfig = ProjectorConfig()):
        super().__init__()
        self.linear = nn.Linear(config.text_dim, config.out_dim)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(vectors), dim=-1)


def info_nce(left: torch.Tensor, right: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE of two batches of unit vectors whose rows are positive pairs."""
    logits = left @ right.T / temperature
    targets = torch.arange(len(left), device=left.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def aether_loss(
    base: torch.Tensor,
    augmented: torch.Tensor,
    text: torch.Tensor,
    *,
    weight: float,
    temperature: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the total loss, the AE-AE term and the AE-POI term for projected batches."""
    ae_ae = info_nce(base, augmented, temperature)
    ae_poi = info_nce(base, text, temperature)
    return weight * ae_ae + (1.0 - weight) * ae_poi, ae_ae, ae_poi


def count_parameters(*modules: nn.Module) -> int:
    """Return the number of trainable parameters of ``modules``."""
    return sum(p.numel() for module in modules for p in module.parameters() if p.requires_grad)
