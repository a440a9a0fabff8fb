"""What a reader sees: one plot function per figure (plots) and the findings rendered from each notebook's
summary, down to the README's results (findings). Above pipelines.
"""
