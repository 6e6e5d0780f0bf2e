"""Small pieces of English shared by pages, emails and the CLI."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """`1 user`, `25,000 users`: a count with its noun, singular when it is one.

    Every noun the product counts takes a plain `s` (user, member, row, request...).
    """
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
