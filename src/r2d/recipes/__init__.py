"""Recipes: short end-to-end scripts over the library (pretrain, finetune, experiment), one file each."""
