"""``scrubctl orphans``: data in the stores that no location row needs, found and (``--reclaim``) erased."""
