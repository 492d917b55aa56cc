"""Azure Blob Storage: the connection, block transfers and its one error table.
"""
