"""The deconstruction list: its tilde format, spelling rules, the English build and the guesser."""
