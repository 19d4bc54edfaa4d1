"""Contrastive training of the AETHER projectors.

The defaults are those of the AETHER paper (arXiv:2510.09894). The optimiser
is AdamW with learning rate 1e-3, weight decay 1e-4 and betas (0.9, 0.999),
decayed per step along a cosine to 1e-5. Training runs 100 epochs of batches
of 512 (the last incomplete batch is dropped) with temperature 0.07,
lambda = 0.2 and seed 42.
"""

from __future__ import annotations

import logging
import math
import pickle
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from aether.exceptions import InvalidCheckpointError, NoDataError
from aether.io import atomic_output, read_table_metadata, read_vector_table
from aether.logs import progress
from aether.training.model import AEProjector, ProjectorConfig, TextProjector, aether_loss, count_parameters

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings; ``ae_ae_weight`` is the paper's lambda."""

    epochs: int = 100
    batch_size: int = 512
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    weight_decay: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    temperature: float = 0.07
    ae_ae_weight: float = 0.2
    seed: int = 42
    device: str = "cpu"


@dataclass
class TrainingData:
    """Aligned training arrays, one row per POI."""

    poi_ids: np.ndarray
    base: np.ndarray
    augmented: np.ndarray
    text: np.ndarray
    text_metadata: dict[str, str]


def load_training_data(views_path: str | Path, text_path: str | Path) -> TrainingData:
    """Join the views and the text embeddings on ``poi_id``.

    Raises:
        NoDataError: no POI has both views and a text embedding.
    """
    views, view_vectors = read_vector_table(views_path, ["base", "augmented"])
    texts, text_vectors = read_vector_table(text_path, ["embedding"])
    text_index = pd.Series(np.arange(len(texts)), index=texts["poi_id"].to_numpy())
    shared = views["poi_id"].isin(text_index.index).to_numpy()
    missing = int((~shared).sum())
    if missing:
        logger.warning("%d POIs with views have no text embedding and are left out", missing)
    if not shared.any():
        raise NoDataError(f"No poi_id of {views_path} appears in {text_path}; rerun the text encoding rule.")
    rows = text_index[views["poi_id"].to_numpy()[shared]].to_numpy()
    return TrainingData(
        poi_ids=views["poi_id"].to_numpy()[shared],
        base=view_vectors["base"][shared],
        augmented=view_vectors["augmented"][shared],
        text=text_vectors["embedding"][rows],
        text_metadata=read_table_metadata(text_path),
    )


def effective_batch_size(count: int, requested: int) -> int:
    """Shrink the batch to the number of POIs when there are fewer POIs than one batch.

    Raises:
        NoDataError: fewer than two POIs, so no in-batch negative exists.
    """
    if count < 2:
        raise NoDataError(f"Contrastive training needs at least 2 POIs with views, got {count}.")
    if count < requested:
        logger.warning(
            "Only %d POIs for a batch size of %d: using batches of %d so that every epoch takes one step",
            count,
            requested,
            count,
        )
        return count
    return requested


def train_projectors(
    data: TrainingData,
    config: TrainingConfig = TrainingConfig(),
    projector_config: ProjectorConfig | None = None,
) -> tuple[AEProjector, TextProjector, pd.DataFrame]:
    """Train both projectors and return them with the per-epoch history."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    projector_config = projector_config or ProjectorConfig(ae_dim=data.base.shape[1], text_dim=data.text.shape[1])
    device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if config.device == "auto" else config.device))

    ae_projector = AEProjector(projector_config).to(device)
    text_projector = TextProjector(projector_config).to(device)
    parameters = list(ae_projector.parameters()) + list(text_projector.parameters())
    optimiser = torch.optim.AdamW(
        parameters, lr=config.learning_rate, weight_decay=config.weight_decay, betas=(config.beta1, config.beta2)
    )

    count = len(data.poi_ids)
    batch_size = effective_batch_size(count, config.batch_size)
    steps_per_epoch = count // batch_size
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=config.epochs * steps_per_epoch, eta_min=config.min_learning_rate
    )
    base = torch.from_numpy(data.base).to(device)
    augmented = torch.from_numpy(data.augmented).to(device)
    text = torch.from_numpy(data.text).to(device)
    logger.info(
        "Training %d parameters on %d POIs: %d epochs of %d steps (batch %d) on %s",
        count_parameters(ae_projector, text_projector),
        count,
        config.epochs,
        steps_per_epoch,
        batch_size,
        device,
    )

    history = []
    for epoch in progress(range(1, config.epochs + 1), desc="train", unit="epoch"):
        started = time.perf_counter()
        order = torch.randperm(count, generator=generator).to(device)
        sums = np.zeros(4)
        for step in range(steps_per_epoch):
            batch = order[step * batch_size : (step + 1) * batch_size]
            projected_base = ae_projector(base[batch])
            projected_text = text_projector(text[batch])
            loss, ae_ae, ae_poi = aether_loss(
                projected_base,
                ae_projector(augmented[batch]),
                projected_text,
                weight=config.ae_ae_weight,
                temperature=config.temperature,
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            with torch.no_grad():
                hits = (projected_base @ projected_text.T).argmax(dim=1) == torch.arange(len(batch), device=device)
            sums += [loss.item(), ae_ae.item(), ae_poi.item(), hits.float().mean().item()]
        means = sums / steps_per_epoch
        history.append(
            {
                "epoch": epoch,
                "loss": means[0],
                "ae_ae_loss": means[1],
                "ae_poi_loss": means[2],
                "top1_ae_to_text": means[3],
                "learning_rate": scheduler.get_last_lr()[0],
                "gate": torch.sigmoid(ae_projector.gate).item(),
                "seconds": time.perf_counter() - started,
            }
        )
        if epoch == 1 or epoch % 10 == 0:
            logger.info("Epoch %d: loss %.4f (AE-AE %.4f, AE-POI %.4f), top-1 AE->text %.3f, lr %.2e",
                        epoch, *means, scheduler.get_last_lr()[0])
        if not math.isfinite(means[0]):
            raise FloatingPointError(f"The loss became {means[0]} in epoch {epoch}; lower training.learning_rate.")
    frame = pd.DataFrame(history)
    last = frame.iloc[-1]
    logger.info(
        "Finished: loss %.4f (AE-AE %.4f, AE-POI %.4f), in-batch top-1 AE->text %.3f, gate %.4f",
        last["loss"],
        last["ae_ae_loss"],
        last["ae_poi_loss"],
        last["top1_ae_to_text"],
        last["gate"],
    )
    return ae_projector.cpu(), text_projector.cpu(), frame


def save_checkpoint(
    path: str | Path,
    ae_projector: AEProjector,
    text_projector: TextProjector,
    *,
    projector_config: ProjectorConfig,
    training_config: TrainingConfig,
    history: pd.DataFrame,
    metadata: dict,
) -> None:
    """Write both projectors, their configuration and the final metrics atomically."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "ae_projector": ae_projector.state_dict(),
        "text_projector": text_projector.state_dict(),
        "projector_config": projector_config.to_dict(),
        "training_config": asdict(training_config),
        "final_metrics": {k: float(v) for k, v in history.iloc[-1].items()},
        "metadata": dict(metadata),
    }
    with atomic_output(path) as temporary:
        torch.save(payload, temporary)


def load_checkpoint(path: str | Path) -> tuple[AEProjector, TextProjector, dict]:
    """Rebuild both projectors from a checkpoint, in evaluation mode.

    Raises:
        InvalidCheckpointError: the file is not an AETHER checkpoint of a known format.
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise InvalidCheckpointError(f"{path}: cannot be read as a checkpoint ({error}). Rerun the train rule.") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InvalidCheckpointError(
            f"{path}: not an AETHER checkpoint of format {CHECKPOINT_FORMAT}. Rerun the train rule to recreate it."
        )
    config = ProjectorConfig(**payload["projector_config"])
    ae_projector, text_projector = AEProjector(config), TextProjector(config)
    ae_projector.load_state_dict(payload["ae_projector"])
    text_projector.load_state_dict(payload["text_projector"])
    return ae_projector.eval(), text_projector.eval(), payload


def run_training(
    views_path: str | Path,
    text_path: str | Path,
    *,
    checkpoint: str | Path,
    history: str | Path,
    settings: dict,
) -> pd.DataFrame:
    """Train on the views and text embeddings; write the checkpoint and the per-epoch history."""
    config = TrainingConfig(**settings)
    data = load_training_data(views_path, text_path)
    projector_config = ProjectorConfig(ae_dim=data.base.shape[1], text_dim=data.text.shape[1])
    ae_projector, text_projector, frame = train_projectors(data, config, projector_config)
    save_checkpoint(
        checkpoint,
        ae_projector,
        text_projector,
        projector_config=projector_config,
        training_config=config,
        history=frame,
        metadata={
            "pois": int(len(data.poi_ids)),
            "text_model": data.text_metadata.get("model", ""),
            "text_model_identity": data.text_metadata.get("model_identity", ""),
        },
    )
    with atomic_output(history) as temporary:
        frame.to_parquet(temporary, index=False)
    return frame
