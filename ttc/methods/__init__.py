"""The test-time methods and their statistics: verifier search (search), revisions (revisions),
compute-optimal selection (compute_optimal), the pretraining-vs-test-time exchange (exchange) and
pass@k, difficulty bins and intervals (analysis). Above verifiers.
"""
