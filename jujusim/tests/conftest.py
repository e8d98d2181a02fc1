"""Puts this folder on ``sys.path`` (pytest does so for a conftest outside a package), so that
the model and explore tests share ``broken_library``."""
