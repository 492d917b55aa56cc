"""``python -m s3sync_mirror``."""
from .cli.main import run

run()
