"""Distribution and regression heads, target transforms, spatial-block splits and task configuration."""

import numpy as np
import pytest
import torch

from aether.evaluation.heads import HeadConfig, build_head, fit_heads, predict_distributions, predict_values
from aether.evaluation.metrics import distribution_metrics, regression_metrics
from aether.evaluation.splits import block_ids, random_split, spatial_block_split, split_units
from aether.evaluation.targets import TargetTransform, check_distributions, check_regression_targets
from aether.evaluation.spec import TaskSpec
from aether.evaluation.tasks import evaluate_units
from aether.exceptions import AetherError, ConfigError, NoDataError

FAST = HeadConfig(max_epochs=60, learning_rate=1e-2)


def unit_rows(count: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((count, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def grid_coordinates(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 10_000, count), rng.uniform(0, 5_000, count)


# Heads with the new losses


def test_fit_heads__regression_recovers_linear_target():
    features = unit_rows(600, 8, 0)
    weights = np.arange(1, 9, dtype=np.float32)[:, None] / 4
    targets = features @ weights + 0.5
    heads = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        heads.append(build_head("linear", 8, 1))
    fitted, _ = fit_heads(heads, (features[:500], targets[:500]), (features[500:], targets[500:]), seeds=[0, 1],
                          loss="mse", config=HeadConfig(max_epochs=300, learning_rate=1e-2))
    for head in fitted:
        predicted = predict_values(head, features[500:])
        assert regression_metrics(targets[500:], predicted)["r2"] > 0.99
        assert np.allclose(head.weight.detach().numpy().ravel(), weights.ravel(), atol=0.05)
        assert head.bias.item() == pytest.approx(0.5, abs=0.05)


def test_fit_heads__kl_learns_known_distributions():
    # Two groups of units, each with its own fixed distribution over three classes.
    rng = np.random.default_rng(1)
    group = rng.integers(0, 2, 400)
    centres = unit_rows(2, 6, 2)
    features = centres[group] + 0.05 * rng.standard_normal((400, 6)).astype(np.float32)
    known = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=np.float32)
    targets = known[group]
    torch.manual_seed(0)
    (head,), _ = fit_heads([build_head("mlp", 6, 3)], (features[:300], targets[:300]),
                           (features[300:], targets[300:]), seeds=[0], loss="kl", config=FAST)
    predicted = predict_distributions(head, features[300:])
    assert np.allclose(predicted.sum(axis=1), 1, atol=1e-5)
    assert np.abs(predicted - targets[300:]).max() < 0.1
    # Predicting the average of the two distributions would give a KL of about 0.3.
    assert distribution_metrics(targets[300:], predicted)["kl"] < 0.02


def test_fit_heads__rejects_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        fit_heads([build_head("linear", 2, 2)], (np.zeros((4, 2), np.float32), np.zeros(4)),
                  (np.zeros((4, 2), np.float32), np.zeros(4)), seeds=[0], loss="hinge")


def test_build_head__mlp1024_width():
    head = build_head("mlp1024", 64, 9)
    assert head[0].out_features == 1024
    assert head(torch.zeros(3, 64)).shape == (3, 9)


# Metrics


def test_distribution_metrics__hand_computed():
    truth = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    predicted = np.array([[0.25, 0.5, 0.25], [0.5, 0.25, 0.25]])
    metrics = distribution_metrics(truth, predicted)
    # KL: row 1 = 0.5 ln 2, row 2 = ln 2; L1: 0.5 and 1.0; Chebyshev: 0.25 and 0.5.
    assert metrics["kl"] == pytest.approx((0.5 * np.log(2) + np.log(2)) / 2)
    assert metrics["l1"] == pytest.approx(0.75)
    assert metrics["chebyshev"] == pytest.approx(0.375)


def test_distribution_metrics__identical_is_zero():
    truth = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert distribution_metrics(truth, truth) == {"kl": 0.0, "l1": 0.0, "chebyshev": 0.0}


def test_regression_metrics__hand_computed():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = np.array([1.0, 2.0, 4.0, 2.0])
    metrics = regression_metrics(truth, predicted)
    # Residuals 0, 0, -1, 2: SSE 5, SST 5, so R² = 0; MAE 0.75; RMSE sqrt(5/4).
    assert metrics["r2"] == pytest.approx(0.0)
    assert metrics["mae"] == pytest.approx(0.75)
    assert metrics["rmse"] == pytest.approx(np.sqrt(1.25))


# Target transforms and checks


def test_transform__fitted_on_training_part_only():
    values = np.array([1.0, 2.0, 3.0, 1000.0])
    train = np.array([0, 1, 2])
    transform = TargetTransform.fit("zscore", values[train])
    assert transform.mean[0] == pytest.approx(2.0)
    assert transform.std[0] == pytest.approx(np.std([1.0, 2.0, 3.0]))
    scaled = transform.apply(values)
    assert scaled[:3].mean() == pytest.approx(0.0, abs=1e-6)
    # The test value far outside the training range stays far out instead of shaping the scale.
    assert scaled[3, 0] > 100


def test_transform__log1p_zscore_round_trip():
    values = np.array([[0.0], [9.0], [99.0], [999.0]])
    transform = TargetTransform.fit("log1p_zscore", values)
    scaled = transform.apply(values)
    assert scaled.mean() == pytest.approx(0.0, abs=1e-6)
    assert scaled.std() == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(transform.invert(scaled), values, rtol=1e-4, atol=1e-5)


def test_transform__none_keeps_values():
    values = np.array([3.0, -2.0, 5.0])
    assert np.allclose(TargetTransform.fit("none", values).apply(values).ravel(), values)


def test_transform__rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown target transform 'log'"):
        TargetTransform.fit("log", np.ones(3))


def test_evaluate_units__regression_transform_fitted_on_training_part(monkeypatch):
    fitted_on = []
    original = TargetTransform.fit.__func__

    def spy(cls, kind, values):
        fitted_on.append(np.asarray(values).ravel().copy())
        return original(cls, kind, values)

    monkeypatch.setattr(TargetTransform, "fit", classmethod(spy))
    features = unit_rows(300, 4, 3)
    targets = features[:, 0] * 10 + 50
    x, y = grid_coordinates(300, 3)
    metrics = evaluate_units(features, targets, task_type="regression", x=x, y=y, heads=("linear",), seeds=(0,),
                             transform="zscore", config=HeadConfig(max_epochs=300, learning_rate=1e-2))

    expected = [split_units(protocol, x=x, y=y, seed=42)[0] for protocol in ("random", "spatial_block")]
    assert len(fitted_on) == 2
    for values, train in zip(fitted_on, expected):
        assert np.allclose(values, targets[train])
    assert (metrics["n_train"].to_numpy() == [len(train) for train in expected]).all()
    assert (metrics["r2"] > 0.9).all(), metrics["r2"]


def test_check_regression_targets__negative_for_log1p():
    with pytest.raises(AetherError, match=r"gdp.parquet: column 'label' has 1 negative values \(minimum -3\).*"
                                          r"Use transform zscore or none"):
        check_regression_targets(np.array([1.0, -3.0, 2.0]), transform="log1p_zscore", source="gdp.parquet",
                                 column="label")


def test_check_regression_targets__negative_allowed_for_zscore():
    check_regression_targets(np.array([1.0, -3.0, 2.0]), transform="zscore", source="t.parquet", column="v")


def test_check_regression_targets__nan():
    with pytest.raises(AetherError, match=r"pop.parquet: column 'label' has 1 missing or infinite values \(first "
                                          r"at row 1\)"):
        check_regression_targets(np.array([1.0, np.nan]), transform="none", source="pop.parquet", column="label")


def test_check_distributions__rescales_counts():
    shares = check_distributions(np.array([[2.0, 6.0], [0.5, 0.5]]), source="d.parquet", columns=["a", "b"])
    assert np.allclose(shares, [[0.25, 0.75], [0.5, 0.5]])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([[0.5, np.nan]], "1 rows have missing values"),
        ([[1.2, -0.2]], "negative values"),
        ([[0.0, 0.0], [0.5, 0.5]], "1 rows sum to zero"),
    ],
)
def test_check_distributions__bad_rows(values, message):
    with pytest.raises(AetherError, match=message):
        check_distributions(np.array(values), source="d.parquet", columns=["a", "b"])


# Splits


def test_block_ids__corners():
    ids = block_ids(np.array([0.0, 10.0, 0.0, 10.0, 5.0]), np.array([10.0, 10.0, 0.0, 0.0, 5.0]), blocks=10)
    # North-west, north-east, south-west, south-east and the centre.
    assert ids.tolist() == [0, 9, 90, 99, 55]


def test_spatial_block_split__keeps_whole_blocks_on_one_side():
    x, y = grid_coordinates(2000, 4)
    train, validation, test = spatial_block_split(x, y, blocks=10, seed=42)
    ids = block_ids(x, y, blocks=10)
    sides = [set(ids[part]) for part in (train, validation, test)]
    assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
    assert sorted(np.concatenate([train, validation, test])) == list(range(2000))
    # Blocks are about 20 points each, so the shares miss 20 % and 8 % by about one block at most.
    assert abs(len(test) / 2000 - 0.2) < 0.03
    assert abs(len(validation) / 2000 - 0.08) < 0.03


def test_spatial_block_split__seeded():
    x, y = grid_coordinates(500, 5)
    first = spatial_block_split(x, y, seed=1)
    again = spatial_block_split(x, y, seed=1)
    other = spatial_block_split(x, y, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[2], other[2])


def test_spatial_block_split__too_few_blocks():
    x = np.array([0.0] * 10 + [100.0] * 10)
    y = np.zeros(20)
    with pytest.raises(NoDataError, match=r"only 2 of the 10x10 spatial blocks.*evaluation.spatial_blocks"):
        spatial_block_split(x, y)


@pytest.mark.parametrize("protocol", ["random", "spatial_block"])
def test_split__too_few_units(protocol):
    x, y = grid_coordinates(9, 6)
    with pytest.raises(NoDataError, match="Only 9 units to split; .* at least 10"):
        split_units(protocol, x=x, y=y)


def test_split_units__unknown_protocol():
    with pytest.raises(ValueError, match="unknown protocol 'kfold'"):
        split_units("kfold", x=np.zeros(20), y=np.zeros(20))


# The whole loop


def test_evaluate_units__distribution_both_protocols():
    features = unit_rows(400, 6, 7)
    logits = features[:, :3] * 3
    targets = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    x, y = grid_coordinates(400, 7)
    metrics = evaluate_units(features, targets, task_type="distribution", x=x, y=y, heads=("linear", "mlp1024"),
                             seeds=(0, 1), config=FAST)
    assert sorted(set(zip(metrics["protocol"], metrics["head"]))) == [
        ("random", "linear"), ("random", "mlp1024"), ("spatial_block", "linear"), ("spatial_block", "mlp1024")]
    assert len(metrics) == 8
    assert {"kl", "l1", "chebyshev"} <= set(metrics.columns)
    uniform = distribution_metrics(targets, np.full_like(targets, 1 / 3))["kl"]
    assert (metrics["kl"] < 0.2 * uniform).all(), metrics["kl"]


def test_evaluate_units__shuffled_regression_target_near_zero_r2():
    features = unit_rows(400, 6, 8)
    targets = np.random.default_rng(8).permutation(features[:, 0] * 5)
    x, y = grid_coordinates(400, 8)
    metrics = evaluate_units(features, targets, task_type="regression", x=x, y=y, heads=("linear",), seeds=(0,),
                             transform="zscore", config=FAST)
    assert (metrics["r2"] < 0.1).all(), metrics["r2"]


def test_evaluate_units__rejects_unknown_type():
    with pytest.raises(ValueError, match="unknown task type 'ranking'"):
        evaluate_units(np.zeros((20, 2)), np.zeros(20), task_type="ranking", x=np.zeros(20), y=np.zeros(20))


# Task configuration


def task_entry(**changes) -> dict:
    entry = {"name": "population", "type": "regression", "labels": "pop.parquet", "columns": ["label"],
             "units": "area", "cells": "pop.tif", "transform": "log1p_zscore"}
    entry.update(changes)
    return entry


def test_task_spec__from_config():
    task = TaskSpec.from_config(task_entry())
    assert task.columns == ("label",)
    assert task.label_files == ["pop.parquet", "pop.tif"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": "ranking"}, r"task 'population' has type 'ranking'; expected one of"),
        ({"units": "hexagon"}, r"has units 'hexagon'"),
        ({"transform": "sqrt"}, r"has transform 'sqrt'"),
        ({"type": "distribution", "columns": ["a", "b"]}, r"applies to regression tasks only"),
        ({"columns": ["a", "b"]}, r"needs exactly one target column"),
        ({"type": "distribution", "columns": ["a"], "transform": "none"}, r"needs at least two columns"),
        ({"cells": None}, r"has area units but no cells raster"),
    ],
)
def test_task_spec__rejects(changes, message):
    with pytest.raises(ConfigError, match=message):
        TaskSpec.from_config(task_entry(**changes))


def test_subsample_units__size_determinism_and_rare_class():
    from aether.evaluation.tasks import MIN_SUBSAMPLE_CLASS, subsample_units

    labels = np.array([0] * 5000 + [1] * 900 + [2] * 30)
    keep = subsample_units(len(labels), 1000, seed=42, labels=labels)
    assert np.array_equal(keep, subsample_units(len(labels), 1000, seed=42, labels=labels))
    assert not np.array_equal(keep, subsample_units(len(labels), 1000, seed=7, labels=labels))
    counts = np.bincount(labels[keep])
    assert counts[2] == MIN_SUBSAMPLE_CLASS  # 30 * 1000 / 5930 would be 5
    assert abs(counts[0] - 843) <= 1
    assert abs(counts[1] - 152) <= 1
    assert len(np.unique(keep)) == len(keep)
    plain = subsample_units(5930, 1000, seed=42)
    assert len(plain) == 1000
    assert np.all(np.diff(plain) > 0)


def test_evaluate_units__max_units_limits_the_split_sizes():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((600, 4)).astype(np.float32)
    targets = features[:, 0] * 2.0 + 0.1 * rng.standard_normal(600)
    x, y = rng.uniform(0, 1000, 600), rng.uniform(0, 1000, 600)
    metrics = evaluate_units(
        features, targets, task_type="regression", x=x, y=y, protocols=["random"], heads=["linear"], seeds=[42],
        max_units=200,
    )
    row = metrics.iloc[0]
    assert row["n_train"] + row["n_validation"] + row["n_test"] == 200
