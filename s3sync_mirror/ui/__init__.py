"""Everything the user reads or answers: the plan table, warnings, the summary, progress,
prompts, the conflict diff. Imports only ``core``.
"""
