"""Helpers a lesson calls around its own code: cached features, small training helpers, plots,
ipywidgets explorers and checked claims."""
