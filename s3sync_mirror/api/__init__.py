"""The Python entry points: ``run``/``smart_sync``, the history's and metadata's functions.
"""
