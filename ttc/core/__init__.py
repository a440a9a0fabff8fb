"""The foundation every other layer stands on: settings and their checks (config), the pinned numerics that make
the same settings give the same bits (determinism, kernels, ordered), FLOPs accounting (compute), and where
artifacts live and how chunked builds run (store, executors). It imports nothing else of ttc.
"""
