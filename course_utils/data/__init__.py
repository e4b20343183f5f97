"""Datasets as folders of files: the dataset table and loader, the offline textures set, the
sample photos, and bundled files (``speech_16k.wav``)."""
