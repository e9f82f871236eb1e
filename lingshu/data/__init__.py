"""Data: the sample schema, source loaders, and the curation steps (filters, dedup, decontamination)."""
