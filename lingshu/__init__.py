"""lingshu: the Lingshu medical multimodal recipe as a reproducible DVC + MLflow pipeline."""
