"""Shared fixtures: every test runs offline, on the CPU, with TensorFlow quiet."""

from __future__ import annotations

import os

os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
