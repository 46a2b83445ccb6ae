"""Numbers and charts about tokenizers and runs: corpus statistics, plots, the experiment and its report.

Modules: :mod:`~r2d.analysis.stats`, :mod:`~r2d.analysis.plots`, :mod:`~r2d.analysis.report`,
:mod:`~r2d.analysis.presets` (the experiment's presets and arguments), :mod:`~r2d.analysis.experiment` (the
whole comparison, resumable). Reads models and metrics; never trains itself except through :mod:`r2d.training`.
"""
