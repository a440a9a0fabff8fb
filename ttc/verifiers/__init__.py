"""Verifiers and how their scores pick an answer: the trained PRM and ORM (trained), the likelihood and the
truth checker (reference), the probability PRM (probability_prm), real PRMs (prm_adapters), and step
aggregation and answer selection (selection). Above models.
"""
