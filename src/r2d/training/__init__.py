"""Training on the Hugging Face ``Trainer``: pretraining (:mod:`~r2d.training.pretrain`, objectives
:mod:`~r2d.training.mlm` and :mod:`~r2d.training.clm`, data :mod:`~r2d.training.data` and
:mod:`~r2d.training.shards`), fine-tuning (:mod:`~r2d.training.finetune`, tasks :mod:`~r2d.training.tasks`), the
shared trainer, callbacks and run folder, and the metrics. The command lines are in :mod:`r2d.cli`.
"""
