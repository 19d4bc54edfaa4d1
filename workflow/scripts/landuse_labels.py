from _job import start

start(snakemake)

from aether.evaluation.labels import (
    check_not_standin_input,
    label_points_from_table,
    read_landuse_polygons,
    sample_label_points,
    write_labels,
)
from aether.raster.store import open_embedding, pixel_validity, store_grid

settings = snakemake.params.landuse
alphaearth = open_embedding(snakemake.input.alphaearth)
grid = store_grid(alphaearth)
check_not_standin_input(snakemake.input.labels[0], alphaearth.attrs.get("standin_layers", []))
if settings["source"] == "points":
    points, classes = label_points_from_table(
        snakemake.input.labels[0],
        grid,
        pixel_validity(alphaearth),
        label_column=settings["label_column"],
        x_column=settings["x_column"],
        y_column=settings["y_column"],
        crs=settings["crs"],
        min_class_points=settings["min_class_points"],
    )
else:
    points, classes = sample_label_points(
        read_landuse_polygons(snakemake.input.labels[0], grid.crs, key=settings["key"]),
        grid,
        pixel_validity(alphaearth),
        spacing=settings["spacing"],
        min_class_points=settings["min_class_points"],
    )
write_labels(points, classes, snakemake.output.points, snakemake.output.classes)
