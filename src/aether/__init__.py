"""AETHER: align AlphaEarth satellite embeddings with Points of Interest text.

The package mirrors the workflow stages:

- :mod:`aether.raster` reads, writes, validates and builds AlphaEarth-format rasters;
- :mod:`aether.poi` reads POIs, synthesises their descriptions and encodes them;
- :mod:`aether.training` pools AlphaEarth views around POIs, defines the
  projectors and trains the contrastive alignment;
- :mod:`aether.inference` applies the trained projector to every pixel;
- :mod:`aether.evaluation` builds labels and compares embeddings on downstream tasks;
- :mod:`aether.retrieval` scores natural-language queries against the AETHER raster.

Method: Y. Wang et al., "AETHER: AlphaEarth-POI Enriched Representation
Learning", arXiv:2510.09894.
"""

__version__ = "0.1.0"
