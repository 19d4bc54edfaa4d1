"""Train, validation and test splits of evaluation units under two protocols.

``random`` follows CaLLiPer: 80/20 train/test with seed 42, then 10 % of the
training units for validation; stratified by class for classification.
``spatial_block`` follows CityRep: the bounding box of the units is cut into
10 x 10 equal blocks and whole blocks go to one part, so that no test unit
has a training neighbour from its own block. Random splits of spatially
autocorrelated labels leak: a test unit's neighbours are in the training
set and carry nearly the same label.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from aether.exceptions import NoDataError

PROTOCOLS = ("random", "spatial_block")
MIN_SPLIT_UNITS = 10


def random_split(
    labels: np.ndarray | None = None,
    *,
    count: int | None = None,
    seed: int = 42,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split indices into train, validation and test parts, stratified by ``labels`` when given.

    Give either ``labels`` (classification) or ``count`` (the number of units,
    unstratified).
    """
    if labels is None and count is None:
        raise ValueError("give labels or count")
    size = len(labels) if labels is not None else int(count)
    if size < MIN_SPLIT_UNITS:
        raise NoDataError(
            f"Only {size} units to split; a train/validation/test split needs at least {MIN_SPLIT_UNITS}."
        )
    index = np.arange(size)
    train, test = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=labels)
    train, validation = train_test_split(
        train,
        test_size=validation_fraction,
        random_state=seed,
        stratify=labels[train] if labels is not None else None,
    )
    return np.sort(train), np.sort(validation), np.sort(test)


def block_ids(x: np.ndarray, y: np.ndarray, *, blocks: int = 10) -> np.ndarray:
    """Number the ``blocks`` x ``blocks`` equal cells of the units' bounding box, row by row from the north-west.

    Units on the east or south edge belong to the last column or row.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    width = max(x.max() - x.min(), np.finfo(float).tiny)
    height = max(y.max() - y.min(), np.finfo(float).tiny)
    cols = np.minimum(((x - x.min()) / width * blocks).astype(np.int64), blocks - 1)
    rows = np.minimum(((y.max() - y) / height * blocks).astype(np.int64), blocks - 1)
    return rows * blocks + cols


def spatial_block_split(
    x: np.ndarray,
    y: np.ndarray,
    *,
    blocks: int = 10,
    seed: int = 42,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assign whole spatial blocks to test, validation and train.

    The occupied blocks are shuffled with ``seed``. Blocks go to the test part
    until it holds ``test_fraction`` of the units, then to the validation part
    until it holds ``validation_fraction`` of the remaining units; the rest is
    training. The parts therefore match the random protocol's 72/8/20 shares
    only up to one block.

    Raises:
        NoDataError: fewer than ``MIN_SPLIT_UNITS`` units, or fewer than three
            occupied blocks, so that some part would be empty.
    """
    count = len(x)
    if count < MIN_SPLIT_UNITS:
        raise NoDataError(
            f"Only {count} units to split; a train/validation/test split needs at least {MIN_SPLIT_UNITS}."
        )
    ids = block_ids(x, y, blocks=blocks)
    occupied, sizes = np.unique(ids, return_counts=True)
    if len(occupied) < 3:
        raise NoDataError(
            f"The {count} units fall into only {len(occupied)} of the {blocks}x{blocks} spatial blocks; the "
            "spatial_block protocol needs at least 3 (one each for train, validation and test). Raise "
            "evaluation.spatial_blocks or drop spatial_block from evaluation.protocols."
        )
    # TODO: blocks are assigned without regard to classes, so a rare class can be missing from the training
    # part of a classification task; its test units then count as errors in the macro metrics.
    order = np.random.default_rng(seed).permutation(len(occupied))
    occupied, sizes = occupied[order], sizes[order]
    # At least one block each for test and validation, and at least one left for training.
    test_blocks = _blocks_for_share(sizes, test_fraction * count, limit=len(sizes) - 2)
    rest = sizes[test_blocks:]
    validation_blocks = _blocks_for_share(rest, validation_fraction * rest.sum(), limit=len(rest) - 1)
    test_set = occupied[:test_blocks]
    validation_set = occupied[test_blocks : test_blocks + validation_blocks]
    test = np.flatnonzero(np.isin(ids, test_set))
    validation = np.flatnonzero(np.isin(ids, validation_set))
    train = np.flatnonzero(~np.isin(ids, np.concatenate([test_set, validation_set])))
    return train, validation, test


def _blocks_for_share(sizes: np.ndarray, target: float, *, limit: int) -> int:
    """How many leading blocks it takes to reach ``target`` units: at least 1, at most ``limit``."""
    reached = int(np.searchsorted(np.cumsum(sizes), target)) + 1
    return int(min(max(reached, 1), limit))


def split_units(
    protocol: str,
    *,
    x: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray | None = None,
    seed: int = 42,
    blocks: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split units under ``protocol`` (``random`` or ``spatial_block``); ``labels`` stratify the random split."""
    if protocol == "random":
        return random_split(labels, count=len(x), seed=seed)
    if protocol == "spatial_block":
        return spatial_block_split(x, y, blocks=blocks, seed=seed)
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
