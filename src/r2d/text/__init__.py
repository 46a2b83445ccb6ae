"""Text -> pieces -> (root, flags) and back, and the one corpus reader. Nothing here knows about BPE ids or models."""
