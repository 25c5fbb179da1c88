"""Names shared across layers: dimensions of labelled outputs and matrix names."""

CLUSTER_DIM = "cluster"
VARIABLE_DIM = "variable"
VARIABLE_DIM_2 = "variable_"
LATENT_DIM = "latent"
LATENT_DIM_2 = "latent_"
