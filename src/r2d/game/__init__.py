"""The deconstruction game: build or extend a deconstruction list word by word, in the terminal.

Modules: :mod:`~r2d.game.words` (word sources: ``wordfreq:LANG``, word lists, corpora), :mod:`~r2d.game.state`
(the game as plain state plus a pure ``step``), :mod:`~r2d.game.ui` (the terminal loop, saving and scores).
The command ``r2d game`` is :mod:`r2d.cli.game`. Guesses come from :mod:`r2d.lists.guess`; the list format from
:mod:`r2d.lists.deconstruct`.
"""
