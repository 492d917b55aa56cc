"""``python -m s3sync_mirror``."""
import sys

from .cli.main import main

sys.exit(main())
