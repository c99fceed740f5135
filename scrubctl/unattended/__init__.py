"""Unattended operation: the audit trail, metrics, logging, signals, systemd units and ``check``."""
