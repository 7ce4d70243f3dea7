"""Command modules of the ``ondemand`` CLI; private, see :mod:`ondemand.cli`."""
