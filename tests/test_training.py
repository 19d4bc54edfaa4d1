import numpy as np
import pandas as pd
import pytest
import torch

from aether.exceptions import InvalidCheckpointError, NoDataError
from aether.io import write_vector_table
from aether.training.model import AEProjector, ProjectorConfig, TextProjector, aether_loss, count_parameters, info_nce
from aether.training.train import (
    TrainingConfig,
    TrainingData,
    effective_batch_size,
    load_checkpoint,
    load_training_data,
    run_training,
    save_checkpoint,
    train_projectors,
)


def unit_rows(rng, count, dim):
    matrix = rng.standard_normal((count, dim)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def paired_data(count=96, seed=0):
    """Base, augmented and text vectors that share a hidden per-POI code, so that alignment is learnable."""
    rng = np.random.default_rng(seed)
    codes = unit_rows(rng, count, 16)
    base = codes @ rng.standard_normal((16, 64)).astype(np.float32)
    augmented = base + 0.1 * rng.standard_normal(base.shape).astype(np.float32)
    text = codes @ rng.standard_normal((16, 384)).astype(np.float32)
    normalise = lambda m: (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    return TrainingData(
        poi_ids=np.array([f"p{i}" for i in range(count)]),
        base=normalise(base),
        augmented=normalise(augmented),
        text=normalise(text),
        text_metadata={},
    )


def test_projectors_match_paper_sizes():
    ae, text = AEProjector(), TextProjector()
    assert count_parameters(ae, text) == 173_057
    assert torch.sigmoid(ae.gate).item() == pytest.approx(1 / (1 + np.exp(4)))


def test_projector_outputs_are_unit_length():
    ae, text = AEProjector(), TextProjector()
    ae_out = ae(torch.randn(7, 64))
    text_out = text(torch.randn(7, 384))
    assert ae_out.shape == (7, 128)
    assert torch.allclose(ae_out.norm(dim=1), torch.ones(7), atol=1e-5)
    assert torch.allclose(text_out.norm(dim=1), torch.ones(7), atol=1e-5)


def test_info_nce_is_symmetric_and_low_for_matching_pairs():
    vectors = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    shuffled = vectors[torch.randperm(8)]
    matching = info_nce(vectors, vectors, 0.07)
    assert matching < 0.1
    assert info_nce(vectors, shuffled, 0.07) > matching
    assert info_nce(vectors, shuffled, 0.07) == pytest.approx(info_nce(shuffled, vectors, 0.07).item(), rel=1e-5)


def test_aether_loss_weights_terms():
    base, augmented, text = (torch.nn.functional.normalize(torch.randn(6, 8), dim=1) for _ in range(3))
    total, ae_ae, ae_poi = aether_loss(base, augmented, text, weight=0.2, temperature=0.07)
    assert total.item() == pytest.approx(0.2 * ae_ae.item() + 0.8 * ae_poi.item(), rel=1e-6)


def test_effective_batch_size_adapts(caplog):
    caplog.set_level("WARNING")
    assert effective_batch_size(100, 512) == 100
    assert "Only 100 POIs for a batch size of 512" in caplog.text
    assert effective_batch_size(1000, 512) == 512


def test_effective_batch_size_needs_two_pois():
    with pytest.raises(NoDataError, match="at least 2 POIs"):
        effective_batch_size(1, 512)


def test_training_aligns_paired_views():
    data = paired_data()
    config = TrainingConfig(epochs=60, batch_size=32)
    _, _, history = train_projectors(data, config)
    assert history["loss"].iloc[-1] < 0.5 * history["loss"].iloc[0]
    assert history["top1_ae_to_text"].iloc[-1] > 0.5
    assert history["learning_rate"].iloc[-1] == pytest.approx(config.min_learning_rate)
    assert len(history) == 60


def test_training_is_reproducible():
    data = paired_data(count=40)
    config = TrainingConfig(epochs=3, batch_size=16)
    first = train_projectors(data, config)[2]
    second = train_projectors(data, config)[2]
    assert np.array_equal(first["loss"].to_numpy(), second["loss"].to_numpy())


def test_checkpoint_round_trip(tmp_path):
    data = paired_data(count=40)
    config = TrainingConfig(epochs=2, batch_size=16)
    ae, text, history = train_projectors(data, config)
    save_checkpoint(tmp_path / "c.pt", ae, text, projector_config=ProjectorConfig(), training_config=config,
                    history=history, metadata={"pois": 40})
    loaded_ae, loaded_text, payload = load_checkpoint(tmp_path / "c.pt")
    probe = torch.from_numpy(data.base[:5])
    assert torch.allclose(loaded_ae(probe), ae(probe))
    assert payload["training_config"]["epochs"] == 2
    assert payload["metadata"] == {"pois": 40}


def test_checkpoint_rejects_other_files(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(InvalidCheckpointError, match="not an AETHER checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidCheckpointError, match="cannot be read as a checkpoint"):
        load_checkpoint(tmp_path / "garbage.pt")


def write_inputs(folder, data, text_ids=None):
    views = pd.DataFrame({"poi_id": data.poi_ids})
    write_vector_table(folder / "views.parquet", views, {"base": data.base, "augmented": data.augmented})
    ids = data.poi_ids if text_ids is None else text_ids
    write_vector_table(folder / "text.parquet", pd.DataFrame({"poi_id": ids}), {"embedding": data.text[: len(ids)]},
                       metadata={"model": "m", "model_identity": "test"})


def test_run_training_writes_artifacts(tmp_path):
    data = paired_data(count=30)
    write_inputs(tmp_path, data)
    history = run_training(tmp_path / "views.parquet", tmp_path / "text.parquet", checkpoint=tmp_path / "c.pt",
                           history=tmp_path / "h.parquet", settings={"epochs": 2, "batch_size": 512})
    assert len(history) == 2
    assert pd.read_parquet(tmp_path / "h.parquet")["epoch"].tolist() == [1, 2]
    assert load_checkpoint(tmp_path / "c.pt")[2]["metadata"]["pois"] == 30


def test_training_data_joins_on_poi_id(tmp_path):
    data = paired_data(count=10)
    write_inputs(tmp_path, data, text_ids=data.poi_ids[::-1])
    joined = load_training_data(tmp_path / "views.parquet", tmp_path / "text.parquet")
    assert np.array_equal(joined.text[0], data.text[9])


def test_training_data_without_overlap(tmp_path):
    data = paired_data(count=4)
    write_inputs(tmp_path, data, text_ids=np.array(["x1", "x2", "x3", "x4"]))
    with pytest.raises(NoDataError, match="rerun the text encoding rule"):
        load_training_data(tmp_path / "views.parquet", tmp_path / "text.parquet")
