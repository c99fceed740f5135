"""``scrubctl broken``: images whose rows say usable but whose locations or data disagree, and their repair."""
