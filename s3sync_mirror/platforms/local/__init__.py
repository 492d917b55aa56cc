"""A plain folder as the remote (a network share): the connection and its fenced lock.
"""
