"""scrubctl: erase the data of OpenStack Glance images left in ``pending_delete``."""

__version__ = "0.1.0"
