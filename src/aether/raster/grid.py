"""North-up pixel grids in a projected CRS."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import CRS


def utm_crs(lon: float, lat: float) -> str:
    """Return the EPSG code of the WGS 84 UTM zone that contains ``(lon, lat)``."""
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"({lon}, {lat}) is not a lon/lat coordinate in degrees")
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: CRS, top-left corner, square pixel size and shape."""

    crs: str
    left: float
    top: float
    resolution: float
    width: int
    height: int

    @classmethod
    def from_bounds(cls, crs: str, bounds: tuple[float, float, float, float], resolution: float) -> Grid:
        """Cover ``(left, bottom, right, top)`` with pixels snapped to multiples of ``resolution``."""
        left, bottom, right, top = bounds
        left = math.floor(left / resolution) * resolution
        bottom = math.floor(bottom / resolution) * resolution
        right = math.ceil(right / resolution) * resolution
        top = math.ceil(top / resolution) * resolution
        width = max(1, round((right - left) / resolution))
        height = max(1, round((top - bottom) / resolution))
        return cls(CRS.from_user_input(crs).to_string(), left, top, resolution, width, height)

    @property
    def transform(self) -> Affine:
        return Affine(self.resolution, 0.0, self.left, 0.0, -self.resolution, self.top)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (
            self.left,
            self.top - self.height * self.resolution,
            self.left + self.width * self.resolution,
            self.top,
        )

    def x_coords(self) -> np.ndarray:
        """Pixel-centre x coordinates, west to east."""
        return self.left + (np.arange(self.width) + 0.5) * self.resolution

    def y_coords(self) -> np.ndarray:
        """Pixel-centre y coordinates, north to south."""
        return self.top - (np.arange(self.height) + 0.5) * self.resolution

    def rowcol(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the row and column of the pixels containing points ``(x, y)``; may fall outside the grid."""
        cols = np.floor((np.asarray(x, dtype=np.float64) - self.left) / self.resolution).astype(np.int64)
        rows = np.floor((self.top - np.asarray(y, dtype=np.float64)) / self.resolution).astype(np.int64)
        return rows, cols

    def contains(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Return a mask of the ``(row, col)`` pairs that lie inside the grid."""
        return (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)
