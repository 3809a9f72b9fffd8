"""Command-line options built from config dataclasses: a flag per field, its type, default, help.

Why not ``transformers.HfArgumentParser``: it does the same for whole dataclasses, but importing it
imports transformers (and torch), while ``convrec --help`` and the CF-only commands must run on an
install without the ``[llm]`` extra. It also gives each field its own flag name, whereas the
command line keeps the short names it has always had (``--warmup`` for ``warmup_steps``), shows a
few defaults that differ on purpose (``--alpha`` absent: no fusion) and groups a command's options
in ``--help``. This builder does that in a few lines over :mod:`dataclasses` and :mod:`argparse`:
a field's name, type and default come from the dataclass, its help from
``field(metadata={"help": ...})`` or else the class's numpydoc ``Attributes`` section.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_FIELD = object()
"""Marks an :class:`Option` default that is the dataclass field's own."""


@dataclasses.dataclass(frozen=True)
class Option:
    """How one dataclass field shows on the command line; unset attributes come from the field.

    Attributes
    ----------
    flag : str or None
        The option string (default ``--field-name``).
    help, metavar : str or None
        Override the field's ``metadata["help"]`` / ``metadata["metavar"]``.
    choices : tuple of str or None
        Override ``metadata["choices"]`` (a ``Literal`` type gives them too).
    default : object
        A command-line default that differs from the field's on purpose (e.g. ``None``: "as
        saved"); by default the field's own.
    """

    flag: str | None = None
    help: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    default: Any = _FIELD


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` after an option's help unless it has no default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if action.required or default is None or default is False or default == "":
            return text
        if default == argparse.SUPPRESS:
            return text
        if isinstance(action, (argparse._VersionAction, argparse._HelpAction)):
            return text
        return super()._get_help_string(action)


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser whose options may be added on first use (``options=fn``).

    ``fn(parser)`` runs before the first parse or help text, so that ``convrec --help`` and the
    other commands never import what only this command's options need (e.g. torch).
    """

    def __init__(
        self, *args: Any, options: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self._pending = options

    def complete(self) -> CommandParser:
        """Add the pending options now (idempotent); returns the parser."""
        if self._pending is not None:
            add, self._pending = self._pending, None
            add(self)
        return self

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self.complete()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self.complete()
        return super().format_help()

    def format_usage(self) -> str:
        self.complete()
        return super().format_usage()


def attribute_docs(cls: type) -> dict[str, str]:
    """Field name -> description from the numpydoc ``Attributes`` section of ``cls.__doc__``.

    An entry naming several fields (``a, b : int, int``) gives each the shared description.
    """
    doc = cls.__doc__ or ""
    match = re.search(
        r"\n(\s*)Attributes\n\s*-+\n(.*?)(?:\n\s*\n\1\S[^\n]*\n\s*-+\n|\Z)", doc, re.S
    )
    if match is None:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    indent = len(match.group(1))
    for line in match.group(2).splitlines():
        if not line.strip():
            continue
        if len(line) - len(line.lstrip()) <= indent:  # "name[, name] : type" or "name"
            names = [n.strip() for n in line.split(":")[0].split(",")]
            for name in names:
                out[name] = ""
        else:
            for name in names:
                out[name] = f"{out[name]} {line.strip()}".strip()
    return {name: text.replace("``", "") for name, text in out.items()}


def _sequence_item(hint: Any) -> type | None:
    """The item type of ``tuple[X, ...]`` / ``list[X]`` hints (``None`` for other hints)."""
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return args[0] if args else str
    return None


def _plain(hint: Any) -> tuple[Any, bool]:
    """(the hint without ``None``, whether ``None`` was allowed)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return (args[0] if len(args) == 1 else hint), True
    return hint, False


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    names: Sequence[str],
    options: Mapping[str, Option] | None = None,
) -> None:
    """Add one option per field of dataclass ``cls`` named in ``names`` (in that order).

    The option's dest is the field name. Types: ``int``, ``float``, ``str`` (``X | None``
    allows a ``None`` default); ``bool`` is a switch; ``tuple[X, ...]`` / ``list[X]`` take a
    comma-separated list, parsed by :func:`config_values`; a ``Literal`` gives the choices.
    """
    options = options or {}
    hints = typing.get_type_hints(cls)
    docs = attribute_docs(cls)
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    for name in names:
        f = by_name[name]
        opt = options.get(name, Option())
        meta = f.metadata
        if opt.default is not _FIELD:
            default = opt.default
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"{cls.__name__}.{name} has no default: give Option(default=...)")
        hint, _ = _plain(hints[name])
        kwargs: dict[str, Any] = {
            "dest": name,
            "default": default,
            "help": (opt.help or meta.get("help") or docs.get(name) or "").replace("%", "%%"),
        }
        metavar = opt.metavar or meta.get("metavar")
        choices = opt.choices or meta.get("choices")
        if typing.get_origin(hint) is typing.Literal:
            choices = choices or tuple(typing.get_args(hint))
            hint = str
        item = _sequence_item(hint)
        if hint is bool:
            kwargs["action"] = "store_true" if default is False else argparse.BooleanOptionalAction
        elif item is not None:  # kept as text here: config_values parses (a ValueError, not exit)
            if isinstance(default, (tuple, list)):
                kwargs["default"] = ",".join(str(v) for v in default)
            kwargs["metavar"] = metavar or "LIST"
        elif hint in (int, float, str):
            kwargs["type"] = hint
            if metavar:
                kwargs["metavar"] = metavar
            if choices:
                kwargs["choices"] = list(choices)
        else:
            raise TypeError(f"{cls.__name__}.{name}: no command-line form for {hints[name]}")
        parser.add_argument(opt.flag or _flag(name), **kwargs)


def config_values(
    args: argparse.Namespace,
    cls: type,
    names: Sequence[str],
    options: Mapping[str, Option] | None = None,
) -> dict[str, Any]:
    """``{field: value}`` of the ``names`` options of :func:`add_config_options`, lists parsed.

    Raises
    ------
    ValueError
        An item of a list option that is not of the item type, naming the option.
    """
    options = options or {}
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(args, name)
        item = _sequence_item(_plain(hints[name])[0])
        if item is not None and isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                value = tuple(item(p) for p in parts)
            except ValueError:
                flag = options.get(name, Option()).flag or _flag(name)
                raise ValueError(
                    f"{flag}: expected comma-separated {item.__name__} values, got {value!r}"
                ) from None
        out[name] = value
    return out
