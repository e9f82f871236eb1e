"""Evaluation: benchmarks, prompts, answer extraction, scoring and inference backends."""
