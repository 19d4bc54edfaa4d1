"""View sampling, the AETHER projectors and contrastive training."""
