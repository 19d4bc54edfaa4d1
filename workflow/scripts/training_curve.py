from aether.logs import configure_rule_logging

configure_rule_logging(snakemake.log[0])

import pandas as pd

from aether.figures import plot_training_history

plot_training_history(pd.read_parquet(snakemake.input[0]), snakemake.output[0])
