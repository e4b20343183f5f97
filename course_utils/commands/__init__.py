"""One module per ``course`` command: ``HELP``, ``add_arguments(parser)``, ``run(args)``."""
