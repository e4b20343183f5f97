"""Where the course runs: the profile, TensorFlow's quiet start, ``setup_notebook``, the doctor
report and the one reader of private Keras names. Imports nothing above it but ``errors``."""
