"""Statistics shared by evaluation and reporting: paired and seed-aware intervals."""
