"""The bottom room: frozen values, errors, paths, clock, hashing, the .S3 layout, typed values.

Imports only the standard library (and each other).
"""
