"""Configuration of an evaluation task, kept free of heavy imports so that the Snakefile can read it."""

from __future__ import annotations

from dataclasses import dataclass

from aether.exceptions import ConfigError

TASK_TYPES = ("classification", "distribution", "regression")
UNITS = ("point", "area")
TRANSFORMS = ("none", "zscore", "log1p_zscore")


@dataclass(frozen=True)
class TaskSpec:
    """One entry of ``evaluation.tasks``.

    Attributes:
        name: task name, used in file names.
        type: ``classification``, ``distribution`` or ``regression``.
        labels: table of labelled units (Parquet, CSV, or a vector file of points).
        columns: target columns; one for classification and regression, the
            shares of each class for a distribution.
        units: ``point`` (window mean around the point) or ``area`` (mean over
            the embedding pixels inside the unit's cell of ``cells``).
        cells: label raster (GeoTIFF) whose cells are the area units.
        transform: regression target transform, fitted on the training part.
    """

    name: str
    type: str
    labels: str
    columns: tuple[str, ...]
    units: str = "point"
    cells: str | None = None
    transform: str = "none"
    x_column: str = "x"
    y_column: str = "y"
    crs: str = "EPSG:4326"
    min_class_points: int = 50

    @classmethod
    def from_config(cls, entry: dict) -> TaskSpec:
        """Build and check a task from one entry of ``evaluation.tasks``.

        Raises:
            ConfigError: an unknown type, unit or transform, a wrong number of
                columns, or area units without a cell raster.
        """
        entry = dict(entry)
        name = entry.get("name", "?")
        if entry.get("type") not in TASK_TYPES:
            raise ConfigError(
                f"evaluation.tasks: task {name!r} has type {entry.get('type')!r}; expected one of {TASK_TYPES}."
            )
        entry["columns"] = tuple(entry.get("columns", ()))
        return cls(**entry).validated()

    def validated(self) -> TaskSpec:
        where = f"evaluation.tasks: task {self.name!r}"
        if self.units not in UNITS:
            raise ConfigError(f"{where} has units {self.units!r}; expected one of {UNITS}.")
        if self.transform not in TRANSFORMS:
            raise ConfigError(f"{where} has transform {self.transform!r}; expected one of {TRANSFORMS}.")
        if self.transform != "none" and self.type != "regression":
            raise ConfigError(f"{where}: transform {self.transform!r} applies to regression tasks only; remove it.")
        if self.type in ("classification", "regression") and len(self.columns) != 1:
            raise ConfigError(
                f"{where} is a {self.type} task and needs exactly one target column in columns, got "
                f"{list(self.columns)}."
            )
        if self.type == "distribution" and len(self.columns) < 2:
            raise ConfigError(
                f"{where} is a distribution task and needs at least two columns (one share per class), got "
                f"{list(self.columns)}."
            )
        if self.units == "area" and not self.cells:
            raise ConfigError(
                f"{where} has area units but no cells raster. Set cells to the label GeoTIFF whose cells are "
                "the units (for example the *.labels.tif next to the *.samples.parquet file)."
            )
        return self

    @property
    def label_files(self) -> list[str]:
        """Every file the task's labels come from."""
        return [self.labels] + ([self.cells] if self.cells else [])
