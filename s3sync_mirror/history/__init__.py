"""Every version of every file: the log's sources, versions, restore, prune and tags.

Never imports ``meta``.
"""
