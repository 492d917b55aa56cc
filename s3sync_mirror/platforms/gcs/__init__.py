"""Google Cloud Storage: the connection, its media transfers and its one error table.
"""
