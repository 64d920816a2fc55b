"""An example targetd plugin (see README.md beside it)."""
