"""The study checking itself: the golden record of the tiny study's bits (golden) and the full policy
retrained from nothing (verify). The top layer.
"""
