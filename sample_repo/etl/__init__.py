"""The sample repo's pipeline code: its artifacts live where FSMirror says."""
