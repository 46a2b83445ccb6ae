"""Numbers and charts read back from finished runs: corpus statistics, plots, the experiment's report, its ablation
and scaling tables. Trains nothing (the experiment itself is :mod:`r2d.experiment`).
"""
