"""Glance's database as scrubctl sees it: the columns it uses, and the queries it runs."""
