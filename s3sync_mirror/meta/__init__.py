"""What files carry beyond their bytes: the files table, shared metadata, marks, sidecar
import, the sparse selection, the team store and ``info``.
"""
