from _job import start

start(snakemake)

import pandas as pd

from aether.figures import plot_training_history

plot_training_history(pd.read_parquet(snakemake.input[0]), snakemake.output[0])
