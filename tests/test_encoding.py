import numpy as np
import pandas as pd
import pytest

from aether.exceptions import ConfigError
from aether.io import read_table_metadata, read_vector_table
from aether.poi import encoding
from aether.poi.encoding import DEFAULT_MODEL, EmbeddingCache, encode_pois, load_model, model_identity, text_hash


class CountingModel:
    """Stands in for a sentence model: deterministic vectors, and a record of what it encoded."""

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts, **kwargs):
        self.seen.extend(texts)
        return np.stack([np.random.default_rng(int(text_hash(t)[:8], 16)).standard_normal(8) for t in texts])


def write_pois(path, texts):
    pd.DataFrame({"poi_id": [f"p{i}" for i in range(len(texts))], "text": texts}).to_parquet(path)
    return path


@pytest.fixture()
def counting_model(monkeypatch):
    model = CountingModel()
    monkeypatch.setattr(encoding, "load_model", lambda *args, **kwargs: model)
    monkeypatch.setattr(encoding, "model_identity", lambda name: f"test:{name}")
    return model


def test_rerun_encodes_only_new_texts(tmp_path, counting_model):
    texts = [f"A place of cafe, a type of food and drink, named Cafe {i}." for i in range(200)]
    write_pois(tmp_path / "pois.parquet", texts)
    first = encode_pois(tmp_path / "pois.parquet", tmp_path / "emb.parquet", model="m", cache_dir=tmp_path / "cache")

    added = texts + ["A place of pub, a type of food and drink, named New Pub.", "A place of bank, a type of finance."]
    write_pois(tmp_path / "pois.parquet", added)
    counting_model.seen.clear()
    second = encode_pois(tmp_path / "pois.parquet", tmp_path / "emb.parquet", model="m", cache_dir=tmp_path / "cache")

    assert first["encoded"] == 200
    assert second["encoded"] == 2
    assert counting_model.seen == added[200:]
    scalars, vectors = read_vector_table(tmp_path / "emb.parquet", ["embedding"])
    assert scalars["poi_id"].tolist() == [f"p{i}" for i in range(202)]
    assert np.allclose(vectors["embedding"][:200], CountingModel().encode(texts), atol=1e-6)


def test_duplicate_texts_are_encoded_once(tmp_path, counting_model):
    write_pois(tmp_path / "pois.parquet", ["same text"] * 5 + ["other"])
    counts = encode_pois(tmp_path / "pois.parquet", tmp_path / "emb.parquet", model="m")
    assert counts == {"pois": 6, "unique_texts": 2, "encoded": 2}
    assert sorted(counting_model.seen) == ["other", "same text"]


def test_cache_is_separate_per_model(tmp_path, counting_model):
    write_pois(tmp_path / "pois.parquet", ["a", "b"])
    encode_pois(tmp_path / "pois.parquet", tmp_path / "emb.parquet", model="m1", cache_dir=tmp_path / "cache")
    counts = encode_pois(tmp_path / "pois.parquet", tmp_path / "emb.parquet", model="m2", cache_dir=tmp_path / "cache")
    assert counts["encoded"] == 2
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_cache_round_trip(tmp_path):
    cache = EmbeddingCache(tmp_path, "model-a")
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    cache.add(["h1", "h2"], vectors)
    cache.add(["h3"], vectors[:1] + 10)
    loaded = cache.load()
    assert sorted(loaded) == ["h1", "h2", "h3"]
    assert np.array_equal(loaded["h3"], vectors[0] + 10)
    assert (cache.directory / "MODEL").read_text().strip() == "model-a"


def test_model_identity_follows_file_contents(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    (model_dir / "README.md").write_text("notes")
    first = model_identity(str(model_dir))
    (model_dir / "README.md").write_text("other notes")
    assert model_identity(str(model_dir)) == first
    (model_dir / "config.json").write_text('{"layers": 2}')
    assert model_identity(str(model_dir)) != first


def test_model_identity_of_hub_name():
    assert model_identity("sentence-transformers/all-MiniLM-L6-v2") == "hub:sentence-transformers/all-MiniLM-L6-v2"


def test_offline_hub_model_is_reported():
    with pytest.raises(ConfigError, match="set text_encoder.offline: false to allow downloads"):
        load_model("no-such-org/no-such-model", offline=True)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_offline_minilm_encodes_descriptions(tmp_path):
    texts = [
        "A place of cafe, a type of food and drink, named Corner Cafe.",
        "A place of coffee shop, a type of food and drink, named Bean There.",
        "A place of car park, a type of transport.",
    ]
    write_pois(tmp_path / "pois.parquet", texts)
    encode_pois(tmp_path / "pois.parquet", tmp_path / "emb.parquet", model=DEFAULT_MODEL)
    _, vectors = read_vector_table(tmp_path / "emb.parquet", ["embedding"])
    matrix = vectors["embedding"]
    assert matrix.shape == (3, 384)
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1, atol=1e-4)
    assert matrix[0] @ matrix[1] > matrix[0] @ matrix[2]
    assert read_table_metadata(tmp_path / "emb.parquet")["model_identity"].startswith("sha256:")
