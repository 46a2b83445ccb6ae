"""Training recipes on the Hugging Face ``Trainer``: pretraining, fine-tuning, their data, tasks and metrics.

Modules: :mod:`~r2d.training.data` (corpus documents -> cached sequences, served with their epoch and index),
:mod:`~r2d.training.trainer` (shared Trainer set-up and callbacks), :mod:`~r2d.training.metrics` (task metrics,
binary precision/recall/F1), :mod:`~r2d.training.flag_metrics` (per-flag F1), :mod:`~r2d.training.pretrain`
(``r2d pretrain``; objectives ``mlm`` and :mod:`~r2d.training.clm`), :mod:`~r2d.training.tasks` (GLUE-style task
registry and loaders), :mod:`~r2d.training.finetune` (``r2d finetune``).
The command lines are in :mod:`r2d.cli`.
"""
