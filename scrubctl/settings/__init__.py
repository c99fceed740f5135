"""Settings: Glance's config files in oslo syntax, secrets, and values as typed (ages, ids, UTC time)."""
