"""AlphaEarth-format rasters: the int8 codec, the pixel grid, Zarr stores and the stand-in builder."""
