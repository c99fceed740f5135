"""One module per command; each exposes ``command``, registered in :mod:`scrubctl.cli`."""
