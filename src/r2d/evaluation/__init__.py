"""Evaluation of trained models: bits per byte, BLiMP, flag metrics (reads models, writes numbers)."""
