"""The ``.S3`` state files, local and remote: the CSV files and their snapshot cache, this
clone's state folder, the remote state and its log, the pure merges, the history index.
"""
