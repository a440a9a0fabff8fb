"""The study's one text format: prompts, solution lines, answer lines, and multi-attempt contexts.

A solution is written one step per line, then an answer line:

    Q: 3 +4 *5 (mod 10)        <- `prompt(question)`: what the policy is given
    3+4=7                      <- steps, one per line
    7*5=5
    A: 5                       <- `ANSWER_PREFIX` and the answer; then end of text

Everything that writes or reads this format (pretraining documents, the
sampler's prompts, verifiers, search, grading, revisions) goes through here.
A revision context holds several attempts at one question, each closed by
`ATTEMPT_SEPARATOR`; its answer is read from the newest attempt only.

Use: `prompt(q)`, `solution_lines(text)`, `render(prompt, lines)`,
`extract_answer(text)`; `attempts_context(q, attempts)`, `newest_attempt(text)`.
"""

from __future__ import annotations

import re

QUESTION_PREFIX = "Q: "
ANSWER_PREFIX = "A: "
ANSWER_MARK = ANSWER_PREFIX.rstrip()  # a line that starts with this is the answer line
ATTEMPT_SEPARATOR = "\n"
"""An empty line between attempts in a revision context: the answer line ends an attempt,
and a blank line (never written inside a solution) starts the next."""

NO_ANSWER = None
"""What `extract_answer` returns when a text holds no well-formed answer line."""

# ASCII digits only: `\d` would accept Arabic-Indic or full-width digits as a right answer.
_ANSWER_LINE = re.compile(r"^A:[ \t]*([0-9]{1,40})[ \t]*$")


def prompt(question: str) -> str:
    """The text a policy is given for a question; its completion is the solution."""
    return f"{QUESTION_PREFIX}{question}\n"


def solution_text(steps: tuple[str, ...] | list[str], answer: str) -> str:
    """Steps, one per line, then the answer line (without a trailing newline)."""
    return "".join(f"{s}\n" for s in steps) + f"{ANSWER_PREFIX}{answer}"


def is_answer_line(line: str) -> bool:
    return line.startswith(ANSWER_MARK)


def solution_lines(text: str) -> list[str]:
    """The lines of a completion (work steps, then the answer line); a trailing empty piece is not a line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def render(prompt_text: str, lines: list[str] | tuple[str, ...]) -> str:
    """Prompt plus lines, each closed by a newline: the text a verifier reads, and a rollout's prefix."""
    return prompt_text + "".join(f"{line}\n" for line in lines)


def has_answer_line(lines: list[str] | tuple[str, ...]) -> bool:
    return any(is_answer_line(line) for line in lines)


def extract_answer(completion: object) -> str | None:
    """The final answer of a completion, or NO_ANSWER. Never raises.

    The answer is the first line that starts with "A:"; it must hold a
    non-negative integer in ASCII digits and nothing else, otherwise the
    completion has no answer (a malformed answer line is not searched past, as
    a grader reading the solution top to bottom would stop there).
    """
    if not isinstance(completion, str):
        return NO_ANSWER
    for line in completion.split("\n"):
        if is_answer_line(line):
            m = _ANSWER_LINE.match(line)
            return str(int(m.group(1))) if m else NO_ANSWER
    return NO_ANSWER


# --------------------------------------------------------------------------
# Revision contexts: several attempts at one question in one text


def attempts_context(question: str, attempts: list[str] | tuple[str, ...]) -> str:
    """The prompt of a revision step: the question, then each earlier attempt (oldest first),
    each followed by a blank line; the model writes its next attempt after it."""
    return prompt(question) + "".join(f"{a.rstrip(chr(10))}\n{ATTEMPT_SEPARATOR}" for a in attempts)


def split_attempts(text: str) -> list[str]:
    """The attempts of a revision completion or context body, oldest first (blank lines separate them)."""
    return text.split("\n" + ATTEMPT_SEPARATOR)


def newest_attempt(text: str) -> str:
    """The last attempt of a text that may hold several; its answer is the chain's answer."""
    return split_attempts(text)[-1]
