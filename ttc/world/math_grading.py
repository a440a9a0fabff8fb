"""Grading a MATH answer against its gold answer within a bound, on any input, saying when it could not decide.

math-verify (through sympy) can run for minutes or for ever on answers a model may well write (issue 34):
`9^{9^{9}}` is a Python integer power of 370 million digits, computed in C where no signal reaches it; 10,000
nested braces or a megabyte of `x+x+...` take sympy's parser as long. Its own timeouts use signals, which only
a process's main thread may set, and do not stop C either. So a grade is decided in three steps:

1. **Exactly, here**, when both answers are integer or fraction arithmetic (`2^{2^{16}}`, `\\frac{5}{2}`, `-3`):
   evaluated with Python's integers and fractions, any result refused once it would pass `MAX_BITS` (so that no
   power, sum or quotient runs long: each operation's inputs are within the bound). Two
   such answers are equal or not with certainty; one too large to evaluate leaves the grade undecided.
2. **Refused, here**, when an answer is longer than `MAX_CHARS` or nested deeper than `MAX_DEPTH`: undecided
   (unless the two are the same text).
3. **By math-verify, in a worker process** with a deadline (`timeout` seconds): a worker that misses it is
   killed, the grade is undecided, and the next grade starts a new worker.

A grade is a `Verdict`: `correct` (an undecided grade counts as not correct), `decided`, and `note`, which says
why a grade is undecided (or that there was no answer); the pool and search tables of a MATH study carry it in
their `grading` column. `judge(gold, answer)` never raises.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from fractions import Fraction

MAX_CHARS = 1000  # MATH-500's longest gold answer has under 200 characters
MAX_DEPTH = 40  # brackets of any kind, nested; sympy's parser recurses on each
MAX_BITS = 1 << 17  # an exactly evaluated number's size: 2^{65536} (65,537 bits) is inside; a sum of two at the
# bound takes tens of milliseconds (its gcd), at 2^20 bits seconds
TIMEOUT = 10.0  # seconds math-verify may take over one grade
STARTUP = 120.0  # seconds a new worker may take to import math-verify, not counted in a grade's deadline
READY = "ready"  # the worker's first line, once it can grade


@dataclass(frozen=True)
class Verdict:
    correct: bool
    decided: bool = True
    note: str = ""  # why the grade is undecided, or that there was no answer; "" for a decided grade

    @classmethod
    def undecided(cls, why: str) -> "Verdict":
        return cls(False, False, why)


# --------------------------------------------------------------------------
# 1. Exact arithmetic


class _NotArithmetic(ValueError):
    """The text is not integer or fraction arithmetic this evaluator reads (math-verify grades it)."""


class _TooLarge(ValueError):
    """A result that would pass MAX_BITS."""


def _checked(value: Fraction) -> Fraction:
    """`value`, or _TooLarge when its numerator or denominator passes MAX_BITS."""
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_BITS:
        raise _TooLarge()
    return value


_TOKEN = re.compile(r"\s*(\d+|\\(?:d|t)?frac|\\cdot|\\times|\\left|\\right|[-+*/^(){}])")


def _tokens(text: str) -> list[str]:
    out, i = [], 0
    text = text.strip()
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m:
            raise _NotArithmetic(text[i:i + 10])
        i = m.end()
        if m.group(1) not in ("\\left", "\\right"):
            out.append(m.group(1))
    return out


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise _NotArithmetic("a fractional power")
    e = exponent.numerator
    if base == 0 and e < 0:
        raise _NotArithmetic("0 to a negative power")
    if base in (0, 1) or e == 0:
        return base ** e
    if base == -1:
        return Fraction(-1 if e % 2 else 1)
    size = max(abs(base.numerator), base.denominator)
    if abs(e) * math.log2(size) > MAX_BITS:  # refused before it is computed
        raise _TooLarge()
    return _checked(base ** e)


class _Parser:
    """expr := term (+|- term)*; term := unary (*|/ unary)*; unary := -unary | +unary | power;
    power := atom (^ exponent)?; atom := integer | (expr) | {expr} | \\frac{expr}{expr}. An exponent is one digit
    or a group, as LaTeX reads `2^10` (2 to the 1, then 0): anything else is not arithmetic here."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _NotArithmetic(f"expected {expected}")
        self.i += 1
        return token

    def whole(self) -> Fraction:
        value = self.expr()
        if self.peek() is not None:
            raise _NotArithmetic("trailing text")
        return value

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = _checked(value + self.term() if self.take() == "+" else value - self.term())
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while self.peek() in ("*", "\\cdot", "\\times", "/"):
            op, right = self.take(), self.unary()
            if op == "/" and right == 0:
                raise _NotArithmetic("division by zero")
            value = _checked(value / right if op == "/" else value * right)
        return value

    def unary(self) -> Fraction:
        if self.peek() in ("-", "+"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take("^")
        if self.peek() == "{":
            exponent = self.group("{", "}")
        else:
            digit = self.take()
            if not (digit.isdigit() and len(digit) == 1):
                raise _NotArithmetic("an exponent LaTeX reads otherwise")
            exponent = Fraction(int(digit))
        if self.peek() == "^":
            raise _NotArithmetic("a^b^c without braces")
        return _power(base, exponent)

    def group(self, opening: str, closing: str) -> Fraction:
        self.take(opening)
        value = self.expr()
        self.take(closing)
        return value

    def atom(self) -> Fraction:
        token = self.peek()
        if token is not None and token.isdigit():
            if len(token) > 4000:  # Python refuses longer decimal strings
                raise _NotArithmetic("a literal too long")
            return Fraction(int(self.take()))
        if token == "(":
            return self.group("(", ")")
        if token == "{":
            return self.group("{", "}")
        if token in ("\\frac", "\\dfrac", "\\tfrac"):
            self.take()
            numerator, denominator = self.group("{", "}"), self.group("{", "}")
            if denominator == 0:
                raise _NotArithmetic("division by zero")
            return _checked(numerator / denominator)
        raise _NotArithmetic(f"unexpected {token!r}")


def exact_value(text: str) -> Fraction:
    """The value of integer or fraction arithmetic; raises _NotArithmetic (other text) or _TooLarge."""
    try:
        return _Parser(_tokens(text)).whole()
    except RecursionError:
        raise _NotArithmetic("nested too deep") from None


# --------------------------------------------------------------------------
# 2. What is refused before math-verify


def _depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})]":
            depth = max(depth - 1, 0)
    return deepest


# --------------------------------------------------------------------------
# 3. math-verify in a worker with a deadline


class _Worker:
    """One process that grades with math-verify, started on first use and again after it ended.

    It is started from a thread of its own that lives as long as this process: the worker dies with the thread
    that started it (`ttc.core.lifetime`), and a grade may come from a short-lived thread."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.starts: queue.Queue = queue.Queue()
        self.starter: threading.Thread | None = None

    def _start_here(self) -> None:
        while True:
            reply = self.starts.get()
            try:
                reply.put(subprocess.Popen([sys.executable, "-m", "ttc.world.math_grading", str(os.getpid())],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=subprocess.DEVNULL, text=True, bufsize=1))
            except BaseException as e:  # noqa: BLE001 - handed to the caller, raised there
                reply.put(e)

    def _start(self) -> subprocess.Popen:
        if self.starter is None or not self.starter.is_alive():
            self.starter = threading.Thread(target=self._start_here, name="ttc-grading-worker", daemon=True)
            self.starter.start()
        reply: queue.Queue = queue.Queue(1)
        self.starts.put(reply)
        started = reply.get()
        if isinstance(started, BaseException):
            raise started
        return started

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def _line(self, timeout: float) -> str:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        return self.process.stdout.readline() if ready else ""

    def _exchange(self, request: str, timeout: float) -> str:
        """The worker's reply line to `request`, or "" when it gave none within `timeout` seconds or has ended. A
        worker started here first says it is ready, so that its imports are not charged to the grade."""
        try:
            if self.process is None or self.process.poll() is not None:
                self.process = self._start()
                if self._line(STARTUP).strip() != READY:
                    return ""
            self.process.stdin.write(request)
            self.process.stdin.flush()
            return self._line(timeout)
        except (OSError, ValueError):
            return ""
        except BaseException:  # an interrupt: the reply it leaves unread must not answer the next grade
            self.stop()
            raise

    def ask(self, gold: str, answer: str, timeout: float) -> dict | None:
        """math-verify's reply ({"equal": bool} or {"error": str}), or None after `timeout` seconds. A worker that
        answers nothing, or not in JSON, is stopped; the next grade starts another."""
        request = json.dumps({"gold": gold, "answer": answer}) + "\n"
        with self.lock:
            line = self._exchange(request, timeout)
            if not line:  # stopped at its deadline, or it had ended
                ended = self.process is None or self.process.poll() is not None
                self.stop()
                return {"error": "its worker ended"} if ended else None
            try:
                return json.loads(line)
            except ValueError:
                self.stop()
                return {"error": f"an unreadable reply {line[:80]!r}"}


_worker = _Worker()


def _serve(parent: int) -> None:
    """The worker's loop: one JSON request a line in, one reply a line out. It dies with `parent` (a grade stuck
    in C would otherwise run on after the study has ended)."""
    import logging

    from ttc.core.lifetime import die_with_parent

    die_with_parent(parent)
    from math_verify import parse, verify

    for name in ("math_verify.parser", "math_verify.grader"):  # it warns at every call that timeouts are off
        logging.getLogger(name).setLevel(logging.ERROR)
    print(READY, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            equal = verify(parse(f"${request['gold']}$", parsing_timeout=None),
                           parse(f"${request['answer']}$", parsing_timeout=None), timeout_seconds=None)
            reply = {"equal": bool(equal)}
        except Exception as e:  # math-verify raises on some malformed LaTeX despite raise_on_error=False
            reply = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
        print(json.dumps(reply), flush=True)


# --------------------------------------------------------------------------


def judge(gold, answer, timeout: float = TIMEOUT) -> Verdict:
    """Whether `answer` equals `gold` as mathematics, decided within about `timeout` seconds; never raises."""
    if answer is None:
        return Verdict(False, True, "no answer")
    if not isinstance(gold, str) or not isinstance(answer, str):
        return Verdict.undecided(f"not text (gold: {type(gold).__name__}, answer: {type(answer).__name__})")
    if "".join(gold.split()) == "".join(answer.split()):
        return Verdict(True)
    exact = {}
    for name, text in (("gold", gold), ("answer", answer)):
        try:
            exact[name] = exact_value(text) if len(text) <= MAX_CHARS else None
        except _TooLarge:
            return Verdict.undecided(f"the {name} is a number too large to compare (over {MAX_BITS} bits)")
        except _NotArithmetic:
            exact[name] = None
    if exact["gold"] is not None and exact["answer"] is not None:
        return Verdict(exact["gold"] == exact["answer"])
    for name, text in (("gold", gold), ("answer", answer)):
        if len(text) > MAX_CHARS:
            return Verdict.undecided(f"the {name} is longer than {MAX_CHARS} characters")
        if _depth(text) > MAX_DEPTH:
            return Verdict.undecided(f"the {name} is nested deeper than {MAX_DEPTH} brackets")
    reply = _worker.ask(gold, answer, timeout)
    if reply is None:
        return Verdict.undecided(f"math-verify gave no verdict within {timeout:g} s")
    if "error" in reply:
        return Verdict.undecided(f"math-verify failed ({reply['error']})")
    return Verdict(reply["equal"])


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
