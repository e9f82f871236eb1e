"""Synthetic data the recipe adds to the curated corpus: long captions, OCR, VQA and chain-of-thought.

Every generator verifies what it makes and accounts for every attempt (accepted, or rejected with a
reason), so the yield of each generator is a number a user can compare across runs.
"""
