"""S3: the connection, its transports (obstore, botocore, the CRT) and its one error table.
"""
