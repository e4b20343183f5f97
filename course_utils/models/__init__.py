"""What a pretrained model is: the backbone registry, EfficientNet-Lite0 (network and converter),
ImageNet labels, BatchNorm folding, the layer walker and parameter counter, the sentence encoder
and the voice activity detector."""
