"""The worlds a study runs in: the synthetic step-by-step math world with exact grading and a truth for every
step (synthetic), its text format and tokenizer (text, tokenizer), MATH-500 (math500), and the protocol
both speak (protocol). Above core only.
"""
