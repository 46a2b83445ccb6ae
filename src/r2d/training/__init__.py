"""Training recipes on the Hugging Face ``Trainer``: pretraining, fine-tuning, their tasks and metrics.

Modules: :mod:`~r2d.training.trainer` (shared Trainer set-up and callbacks), :mod:`~r2d.training.tasks`
(GLUE-style task registry and loaders), :mod:`~r2d.training.metrics`, :mod:`~r2d.training.pretrain`
(``r2d pretrain``), :mod:`~r2d.training.finetune` (``r2d finetune``).
"""
