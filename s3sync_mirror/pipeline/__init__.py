"""One sync's stages and their helpers: detect (scan, quick check, evidence) -> plan (moves)
-> confirm -> execute (schedule, batches, copies, the local replica) -> commit.

The planner, the confirm policy, the schedule and the moves are pure: they import only ``core``.
"""
