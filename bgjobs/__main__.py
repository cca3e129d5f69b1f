"""`python -m bgjobs` runs the command line."""

from bgjobs.cli import main

raise SystemExit(main())
