"""Numbers and charts about tokenizers and runs: corpus statistics, plots, the experiment's report, its ablation and
scaling tables.

Modules: :mod:`~r2d.analysis.stats`, :mod:`~r2d.analysis.plots`, :mod:`~r2d.analysis.report`,
:mod:`~r2d.analysis.protocol`, :mod:`~r2d.analysis.ablation`, :mod:`~r2d.analysis.scaling`. Reads numbers that
runs wrote; trains nothing (the experiment that trains is :mod:`r2d.experiment`).
"""
