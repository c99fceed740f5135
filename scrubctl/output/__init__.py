"""Output: the renderer (the only code that imports rich), live progress, and the plain views behind tables and JSON."""
