"""The ``convrec`` command line: the parser and one function per command."""

from convrec.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
