"""What changed inside a file between two byte versions: tables by key or by row, text as a
unified diff, binary by size and checksum (docs/diff.md). Imports only core; pandas lazily."""
