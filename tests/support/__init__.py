"""Helpers the tests share; ``tests/conftest.py`` holds only the fixtures built from them."""
