"""Jobs: predictions as a persisted state machine, their events and the workers that run them.

Nothing here knows about gRPC; servicers translate to and from this layer.
"""
