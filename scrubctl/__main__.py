"""Allow ``python -m scrubctl``."""

from scrubctl.cli import main

if __name__ == "__main__":
    main()
