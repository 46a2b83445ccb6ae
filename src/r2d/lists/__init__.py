"""The deconstruction list: its tilde format, spelling rules, the English build and the guesser.

Modules: :mod:`~r2d.lists.deconstruct` (parse, validate, atomic write, look up, spell back),
:mod:`~r2d.lists.inflections` and :mod:`~r2d.lists.derivations` (candidate splits of a word),
:mod:`~r2d.lists.english` (the default English list from ``wordfreq`` + ``lemminflect`` + exceptions),
:mod:`~r2d.lists.guess` (guessed deconstructions, plurals). The game that edits lists lives in :mod:`r2d.game`.
"""
