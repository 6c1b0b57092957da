"""Argument types that refuse bad values with one line naming the valid range, and a parser that
prints that one line (and where to find the usage) instead of argparse's usage block."""

import argparse
from datetime import date


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def iso_date(text: str) -> date:
    try:
        value = date.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.isoformat() != text:  # Python also reads 20261101 and 2026-W44-7
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: use YYYY-MM-DD, e.g. 2026-11-01")
    return value


def _number(kind, text: str, check, rule: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number: {rule}") from None
    if not check(value):
        raise argparse.ArgumentTypeError(f"{text} is out of range: {rule}")
    return value


def positive_int(text: str) -> int:
    return _number(int, text, lambda v: v >= 1, "a whole number of at least 1")


def non_negative_float(text: str) -> float:
    return _number(float, text, lambda v: v >= 0, "0 or more, a fraction of the peak (0.25 = 25 % headroom)")


def fraction(text: str) -> float:
    return _number(float, text, lambda v: 0 < v <= 1, "more than 0 and at most 1 (0.99 = 99 %)")
