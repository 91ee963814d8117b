"""One option stack for fastq's command lines: CLI > environment > TOML file > default.

An option is declared once, as a dataclass field made with :func:`option`. From that
one declaration come its typed attribute, its command-line flag (``--max-tasks-per-child``),
its environment variable (``FASTQ_MAX_TASKS_PER_CHILD``), its config-file key
(``max_tasks_per_child`` or ``max-tasks-per-child``) and its ``--help`` line. click does
the parsing and carries the precedence (an option's ``envvar``, the context's
``default_map`` filled from the TOML file, the default); this module builds the click
parameters from the fields, reads the values back into the dataclass, and says where
each value came from (for error messages and the "password on the command line" warning).

How to add an option to ``fastq-worker`` (the only edit needed): add one field to
``WorkerOptions`` in ``fastq/supervisor/options.py``::

    metrics_port: int = option(0, parse_port, "serve /metrics on PORT (0: off)", metavar="PORT")

``parse`` turns a string (CLI, env) or a TOML value into the typed value and raises
``ValueError`` (or ``InvalidOptionError``) with a short reason; ``flag=True`` makes a
``--x/--no-x`` switch. Then read ``options.metrics_port`` where it is used.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click
from click.core import ParameterSource

from fastq.config import DEFAULT_REDIS_URL, RedisConfig
from fastq.errors import InvalidOptionError

ENV_PREFIX = "FASTQ_"
_SPEC = "fastq.option"  # dataclass field metadata key
_ENV = "fastq.env"  # ctx.meta key: the environment mapping to read (default os.environ)
_SOURCES = "fastq.sources"  # ctx.meta key: option name -> ParameterSource

SOURCE_NAMES = {
    ParameterSource.COMMANDLINE: "cli",
    ParameterSource.ENVIRONMENT: "env",
    ParameterSource.DEFAULT_MAP: "config",
    ParameterSource.DEFAULT: "default",
}


@dataclass(frozen=True)
class Spec:
    """How one dataclass field reaches the command line, environment, file and help.

    Args:
        parse: turns a CLI/env string or a TOML value into the field's value.
        help: one line for ``--help``.
        metavar: the value's placeholder in ``--help``.
        flag: a boolean switch (``--x/--no-x``) instead of an option with a value;
            its values parse as click's booleans (1/0, true/false, yes/no, on/off)
            and ``parse`` is not used.
        argument: a positional argument (``APP``) instead of an option.
        shown_default: the default as ``--help`` shows it (else ``str(default)``).
    """

    parse: Callable[[Any], Any]
    help: str
    metavar: str = "VALUE"
    flag: bool = False
    argument: bool = False
    shown_default: str | None = None


def option(
    default: Any,
    parse: Callable[[Any], Any],
    help: str,
    *,
    metavar: str = "VALUE",
    flag: bool = False,
    argument: bool = False,
    shown_default: str | None = None,
    secret: bool = False,
) -> Any:
    """Declare one option as a dataclass field (see the module docstring).

    Args:
        default: the value when no source sets it; a zero-argument callable is
            called at resolution time (e.g. the CPU count).
        parse: turns a string or TOML value into the value; raises ValueError.
        help: one line for ``--help``.
        metavar: the value's placeholder in ``--help``.
        flag: a ``--x/--no-x`` switch.
        argument: a positional argument rather than an option.
        shown_default: how ``--help`` shows the default.
        secret: the value may hold a password: leave it out of the options' repr.
    """
    spec = Spec(parse, help, metavar, flag, argument, shown_default)
    if callable(default):
        return dataclasses.field(default_factory=default, metadata={_SPEC: spec}, repr=not secret)
    return dataclasses.field(default=default, metadata={_SPEC: spec}, repr=not secret)


def env_name(name: str) -> str:
    """``max_tasks_per_child`` -> ``FASTQ_MAX_TASKS_PER_CHILD``."""
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    """``max_tasks_per_child`` -> ``--max-tasks-per-child``."""
    return "--" + name.replace("_", "-")


def declared(cls: type) -> list[tuple[str, Any, Spec]]:
    """``(name, default or factory, spec)`` for every field of ``cls`` made by :func:`option`."""
    out = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_SPEC)
        if spec is None:
            continue
        default = f.default_factory if f.default is dataclasses.MISSING else f.default
        out.append((f.name, default, spec))
    return out


class Parsed(click.ParamType):  # type: ignore[type-arg,unused-ignore]  # generic from click 8.4
    """A click type around one of our parse functions; its reason becomes click's message."""

    def __init__(self, parse: Callable[[Any], Any], metavar: str) -> None:
        self.parse = parse
        self.name = metavar.lower()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.parse(value)
        except InvalidOptionError as exc:  # its own "invalid option" prefix would double up
            self.fail(getattr(exc, "detail", str(exc)), param, ctx)
        except (ValueError, TypeError) as exc:
            self.fail(str(exc), param, ctx)


def _read_env(param: click.Parameter, ctx: click.Context) -> str | None:
    env: Mapping[str, str] = ctx.meta.get(_ENV) or os.environ
    names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ())
    for name in names:
        if env.get(name):  # an empty variable counts as unset, as in click
            return env[name]
    return None


def _record(ctx: click.Context, name: str | None, source: ParameterSource) -> None:
    if name:
        ctx.meta.setdefault(_SOURCES, {})[name] = source


class StackOption(click.Option):
    """A click option that reads the stack's environment mapping and records its source."""

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        return _read_env(self, ctx)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = super().get_error_hint(ctx)  # type: ignore[arg-type,unused-ignore]
        source = ctx.meta.get(_SOURCES, {}).get(self.name) if ctx else None
        if source == ParameterSource.ENVIRONMENT and isinstance(self.envvar, str):
            return f"{hint} (from {self.envvar})"  # click names only the flag
        return hint

    def consume_value(
        self, ctx: click.Context, opts: Mapping[str, Any]
    ) -> tuple[Any, ParameterSource]:
        value, source = super().consume_value(ctx, opts)  # type: ignore[arg-type]
        _record(ctx, self.name, source)
        return value, source


class StackArgument(click.Argument):
    """A positional argument with the same environment and source handling."""

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        return _read_env(self, ctx)

    def consume_value(
        self, ctx: click.Context, opts: Mapping[str, Any]
    ) -> tuple[Any, ParameterSource]:
        value, source = super().consume_value(ctx, opts)
        _record(ctx, self.name, source)
        return value, source


def click_params(cls: type) -> list[click.Parameter]:
    """The click parameters of every :func:`option` field of ``cls``, in field order."""
    params: list[click.Parameter] = []
    for name, default, spec in declared(cls):
        env = env_name(name)
        shown = spec.shown_default if spec.shown_default is not None else default
        help_text = f"{spec.help} [env {env}; default {shown}]"
        if spec.argument:
            params.append(
                StackArgument(
                    [name],
                    required=False,
                    envvar=env,
                    type=Parsed(spec.parse, spec.metavar),
                    metavar=spec.metavar,
                )
            )
        elif spec.flag:
            dashed = flag_name(name)
            params.append(
                StackOption(
                    [f"{dashed}/--no-{dashed[2:]}", name],
                    default=default,
                    envvar=env,
                    help=help_text,
                )
            )
        else:
            params.append(
                StackOption(
                    [flag_name(name), name],
                    default=default,
                    envvar=env,
                    type=Parsed(spec.parse, spec.metavar),
                    metavar=spec.metavar,
                    help=help_text,
                )
            )
    return params


def subcommand_option(
    cls: type, name: str, callback: Callable[[click.Context, click.Parameter, Any], Any]
) -> click.Option:
    """Field ``name`` of ``cls`` once more, for a subcommand to accept after its name.

    It has no variable and no default (the root's option already covers those);
    ``callback(ctx, param, value)`` gets the parsed value, or None when not given.

    Args:
        cls: the dataclass that declares the option.
        name: the field name.
        callback: stores the value where the command reads it.
    """
    for field_name, _default, spec in declared(cls):
        if field_name == name:
            return StackOption(
                [flag_name(name), name],
                default=None,
                type=Parsed(spec.parse, spec.metavar),
                metavar=spec.metavar,
                expose_value=False,
                callback=callback,
                help=f"{spec.help} [also accepted before the subcommand]",
            )
    raise KeyError(name)


def parse_context(
    command: click.Command,
    argv: Sequence[str],
    env: Mapping[str, str],
    config: Mapping[str, Any] | None,
    prog: str,
) -> click.Context:
    """Parse ``argv`` with ``command``, reading ``env`` and ``config`` (the TOML default map).

    Args:
        command: the click command whose parameters to fill.
        argv: the command-line arguments (without the program name).
        env: the environment to read ``FASTQ_*`` variables from.
        config: the config file's values by option name (None: none, or a ``--config``
            callback fills ``ctx.default_map``).
        prog: the program name for messages.

    Raises:
        InvalidOptionError: a value does not parse; the message names where it came from.
        click.ClickException: a usage error (unknown option, missing value).
        click.exceptions.Exit: ``--help`` or ``--version`` was handled.
    """
    settings = {"default_map": dict(config) if config else None, **command.context_settings}
    ctx = click.Context(command, info_name=prog, **settings)
    ctx.meta[_ENV] = env
    try:
        with ctx.scope(cleanup=False):
            command.parse_args(ctx, list(argv))
    except click.BadParameter as exc:
        if exc.param is None or exc.param.name is None:
            raise
        name = exc.param.name
        source = ctx.meta.get(_SOURCES, {}).get(name, ParameterSource.COMMANDLINE)
        where = {
            ParameterSource.ENVIRONMENT: env_name(name),
            ParameterSource.DEFAULT_MAP: f"config key {name}",
            ParameterSource.DEFAULT: "default",
        }.get(source, flag_name(name) if not isinstance(exc.param, click.Argument) else name)
        raise InvalidOptionError(name, f"{where}: {exc.message}") from None
    return ctx


def read_values(cls: type, ctx: click.Context) -> tuple[dict[str, Any], dict[str, str]]:
    """The parsed values of ``cls``'s fields and where each came from (cli/env/config/default)."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, _default, _spec in declared(cls):
        values[name] = ctx.params[name]
        source = ctx.get_parameter_source(name)
        sources[name] = SOURCE_NAMES.get(source, "default") if source else "default"
    return values, sources


def parse_redis_url(value: Any) -> str:
    """A Redis URL, checked as ``RedisConfig`` checks it (scheme, port, database)."""
    return RedisConfig(url=str(value)).url


@dataclass(frozen=True, kw_only=True)
class RedisOptions:
    """The options every fastq command line shares (``fastq`` and ``fastq-worker``)."""

    redis_url: str = option(
        DEFAULT_REDIS_URL,
        parse_redis_url,
        "Redis URL: redis://[user:password@]host:port/db, rediss:// or unix://; "
        "prefer the environment variable when it holds a password",
        metavar="URL",
        secret=True,
    )
