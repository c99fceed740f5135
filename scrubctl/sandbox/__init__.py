"""The sandbox: a self-contained SQLite + file-store Glance world to try scrubctl on."""
