"""The deconstruction game: build or extend a deconstruction list word by word, in the terminal (``r2d game``)."""
