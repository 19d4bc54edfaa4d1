from pathlib import Path

import pytest

from aether.exceptions import ConfigError
from aether.paths import resolve_path


def test_plain_path_is_unchanged():
    assert resolve_path("data/x.tif") == Path("data/x.tif")


def test_package_reference_resolves_to_shipped_file():
    path = resolve_path("pkg:aether/data/osm_poi_categories.csv")
    assert path.is_file()
    assert path.name == "osm_poi_categories.csv"


def test_missing_package_is_reported():
    with pytest.raises(ConfigError, match="no installed Python package is named 'no_such_package_xyz'"):
        resolve_path("pkg:no_such_package_xyz/file.txt")


def test_missing_file_in_package_is_reported():
    with pytest.raises(ConfigError, match="does not exist in the installed package 'aether'"):
        resolve_path("pkg:aether/data/missing.csv")
