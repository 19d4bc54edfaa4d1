from pathlib import Path

import pytest
import yaml

from aether.config import check_config
from aether.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def default_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_shipped_configs_are_valid():
    for path in [ROOT / "config.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]:
        check_config(yaml.safe_load(path.read_text()), SCHEMA, source=path.name)


def test_misspelt_key_gets_suggestion():
    config = default_config()
    config["retreival"] = config.pop("retrieval")
    with pytest.raises(ConfigError, match=r"top level: unknown key 'retreival' \(did you mean 'retrieval'\?\)"):
        check_config(config, SCHEMA, source="my.yaml")


def test_nested_error_names_location_and_file():
    config = default_config()
    config["training"]["epochs"] = "20"
    with pytest.raises(ConfigError, match=r"Invalid configuration in my\.yaml:\n  - training\.epochs: '20' is not of type"):
        check_config(config, SCHEMA, source="my.yaml")


def test_message_stays_short():
    config = default_config()
    for key in ("epochs", "batch_size", "learning_rate", "seed", "temperature", "weight_decay"):
        config["training"][key] = "bad"
    with pytest.raises(ConfigError) as error:
        check_config(config, SCHEMA, source="my.yaml")
    assert "... and 1 more" in str(error.value)
    assert len(str(error.value).splitlines()) == 8
