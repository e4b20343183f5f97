"""Pretrained models the course runs: where their files come from and how they are loaded."""
