"""`python -m scorehost ...` is the same as the `scorehost` console script."""
from .cli import main

raise SystemExit(main())
