"""What a pretrained model is: the backbone registry, EfficientNet-Lite0 (network and converter),
ImageNet labels, BatchNorm folding, the layer walker and parameter counter, the sentence encoder,
the voice activity detector, and the model files other PyPI wheels ship (lesson 6)."""
