"""``python -m jobs run|status|health|scheduler|retry|recover|bootstrap`` (see jobs/cli.py)."""

import sys

from jobs.cli import main

if __name__ == "__main__":
    sys.exit(main())
