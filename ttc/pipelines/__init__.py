"""The study's stages, one module each, as the notebooks run them: the study's settings and artifacts
(study), the ladder (ladder_study), the pool (pool), the verifiers (verifier_study), search against
verifier quality (search_vs_verifier), revisions (revision_study), the exchange (exchange_study), the
seed study (seed_study) and the choice of world and models (given_models). Above methods.
"""
