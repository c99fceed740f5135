"""The scrub engine: plan first (data), then apply the plan on the same code path, dry-run or not.

:mod:`~scrubctl.engine.planner` selects and explains; :mod:`~scrubctl.engine.runner` claims images
through the database, re-checks them, erases through the deleters and records the result with
guarded updates (:mod:`~scrubctl.engine.records`).
"""
