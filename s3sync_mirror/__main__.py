"""``python -m s3sync_mirror``."""
import sys

from .cli import main

sys.exit(main())
