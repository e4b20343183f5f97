"""What a pretrained model is: the backbone registry, EfficientNet-Lite0, ImageNet labels,
BatchNorm folding, the sentence encoder and the voice activity detector."""
