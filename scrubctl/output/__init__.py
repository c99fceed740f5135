"""Output: the renderer (the only code that imports rich), live progress, and the plain views behind tables and JSON."""

# The output formats of listings (``-f/--format``), here rather than beside the renderer so that the
# options can name them without importing rich.
OUTPUT_FORMATS = ("table", "json", "csv", "value")
