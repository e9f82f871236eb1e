"""Reports across checkpoints: paired comparisons on the same questions, ablation tables and charts."""
