"""``scrubctl restore``: bring pending_delete images back whole (see :mod:`scrubctl.restore.engine`)."""

from scrubctl.restore.engine import restore_image, restore_images
from scrubctl.restore.model import ImageRestore, RestoreReport, RestoreResult, RestoreTools

__all__ = ["ImageRestore", "RestoreReport", "RestoreResult", "RestoreTools", "restore_image", "restore_images"]
