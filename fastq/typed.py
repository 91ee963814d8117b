"""A typed handler's signature: which arguments it takes, and their JSON form.

A typed handler takes keyword arguments (``async def send(ctx: Context, user_id:
int, template: str)``); its payload is the JSON object of those arguments, so a Go
producer writes ``{"user_id": 1, "template": "welcome"}`` and a Go worker reads it.

``Signature`` checks the arguments of an enqueue against the annotations (before
anything is sent) and converts a payload back into arguments on the worker. Plain
JSON types need nothing extra: ``str``, ``int``, ``float``, ``bool``, ``None``,
``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``, ``X | None``, unions of those,
``Literal[...]`` and ``Any``. Any other annotation (a pydantic model, a
dataclass, ``datetime``...) is validated and converted by pydantic, the optional
extra ``fastq-asynq[pydantic]``.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from fastq.errors import InvalidOptionError

CTX_PARAM = "ctx"  # the parameter that receives the Context, never part of the payload
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_EMPTY = inspect.Parameter.empty
_PLAIN = (str, int, float, bool, type(None))


def is_legacy(fn: Callable[..., Any]) -> bool:
    """True for a protocol-level ``(task, ctx)`` handler.

    That is anything but a plain function, or a function of exactly two required
    positional parameters whose first is annotated ``IncomingTask``, or whose
    second is named ``ctx`` or annotated ``Context`` (a typed handler takes ``ctx``
    first, so ``(task: Any, ctx: Any)`` is the protocol form, not a payload
    argument named ``ctx``).
    """
    if not inspect.isfunction(fn):
        return True
    params = list(inspect.signature(fn).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(params) != 2 or any(p.kind not in positional or p.default is not _EMPTY for p in params):
        return False
    return _annotated(params[0], "IncomingTask") or (
        params[1].name == CTX_PARAM or _annotated(params[1], "Context")
    )


def _annotated(param: inspect.Parameter, name: str) -> bool:
    """True when ``param`` is annotated with the fastq class ``name`` (or its string)."""
    ann = param.annotation
    return ann in (name, f"fastq.{name}") or getattr(ann, "__name__", "") == name


class Signature:
    """The payload arguments of a typed handler and how to check and convert them.

    Args:
        fn: the handler (or a stub declaring the arguments).
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.name = getattr(fn, "__qualname__", repr(fn))
        try:
            hints = typing.get_type_hints(fn)
        except Exception as exc:  # an annotation naming something not importable
            raise InvalidOptionError(
                "handler", f"{self.name}: cannot read annotations: {exc}"
            ) from exc
        self.takes_ctx = False
        self.params: dict[str, inspect.Parameter] = {}
        self.types: dict[str, Any] = {}
        for p in inspect.signature(fn).parameters.values():
            if p.name == CTX_PARAM:
                self.takes_ctx = True
                continue
            if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise InvalidOptionError("handler", f"{self.name}: *{p.name} cannot be a payload")
            self.params[p.name] = p
            self.types[p.name] = hints.get(p.name, Any)
        self._adapters = {n: _adapter(t, self.name, n) for n, t in self.types.items()}

    def payload(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bytes:
        """The JSON payload of one call, after checking every argument.

        Args:
            args: positional arguments, in the handler's parameter order (ctx excluded).
            kwargs: keyword arguments.

        Raises ``InvalidOptionError`` naming the missing, unexpected or ill-typed
        argument.
        """
        values = self._bind(args, kwargs)
        out = {}
        for name, value in values.items():
            adapter = self._adapters[name]
            if adapter is None:
                _check(value, self.types[name], name)
                out[name] = value  # as given: the JSON encoder writes tuples as lists
            else:
                out[name] = adapter.dump(value, name)
        try:
            return _JSON.encode(out).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidOptionError("payload", f"cannot encode as JSON: {exc}") from exc

    def arguments(self, payload: bytes) -> dict[str, Any]:
        """The keyword arguments a payload stands for (worker side).

        Args:
            payload: the task's payload bytes (empty: no arguments).

        Raises ``InvalidOptionError`` when the payload is not a JSON object or an
        argument is missing, unexpected or of the wrong type.
        """
        try:
            obj = json.loads(payload) if payload else {}
        except ValueError as exc:
            raise InvalidOptionError("payload", f"not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise InvalidOptionError("payload", f"must be a JSON object, got {type(obj).__name__}")
        values = self._bind((), obj)
        out: dict[str, Any] = {}
        for name, value in values.items():
            adapter = self._adapters[name]
            if adapter is None:
                out[name] = _check(value, self.types[name], name)
            else:
                out[name] = adapter.load(value, name)
        return out

    def _bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        names = list(self.params)
        if len(args) > len(names):
            raise InvalidOptionError("arguments", f"{self.name} takes {len(names)} arguments")
        values: dict[str, Any] = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in self.params:
                raise InvalidOptionError(key, f"unexpected argument for {self.name}")
            if key in values:
                raise InvalidOptionError(key, "given twice")
            values[key] = value
        for name, p in self.params.items():
            if name not in values and p.default is _EMPTY:
                raise InvalidOptionError(name, f"missing argument for {self.name}")
        return values


class _Adapter:
    """pydantic's validation for one non-plain annotation."""

    def __init__(self, annotation: Any) -> None:
        from pydantic import TypeAdapter

        self._ta: Any = TypeAdapter(annotation)

    def dump(self, value: Any, name: str) -> Any:
        try:
            return self._ta.dump_python(self._ta.validate_python(value), mode="json")
        except ValueError as exc:  # pydantic's ValidationError is one
            raise InvalidOptionError(name, _one_line(exc)) from exc

    def load(self, value: Any, name: str) -> Any:
        try:
            return self._ta.validate_python(value)
        except ValueError as exc:
            raise InvalidOptionError(name, _one_line(exc)) from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]


def _adapter(annotation: Any, where: str, name: str) -> _Adapter | None:
    if _is_plain(annotation):
        return None
    try:
        return _Adapter(annotation)
    except ImportError:
        raise InvalidOptionError(
            name, f"{where}: {annotation!r} needs pydantic: pip install 'fastq-asynq[pydantic]'"
        ) from None


def _is_plain(t: Any) -> bool:
    if t is Any or t in _PLAIN or t is list or t is dict:
        return True
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is typing.Literal:
        return all(isinstance(a, _PLAIN) for a in args)
    if origin in (typing.Union, types.UnionType):
        return all(_is_plain(a) for a in args)
    if origin is list:
        return _is_plain(args[0]) if args else True
    if origin is tuple:
        return len(args) == 2 and args[1] is Ellipsis and _is_plain(args[0])
    if origin is dict:
        return (not args) or (args[0] is str and _is_plain(args[1]))
    return False


def _check(value: Any, t: Any, name: str) -> Any:
    """``value`` if it fits the plain annotation ``t`` (tuples become lists, an int
    fits a float), else InvalidOptionError naming ``name``."""
    ok, out = _fit(value, t)
    if not ok:
        raise InvalidOptionError(name, f"expected {_show(t)}, got {type(value).__name__}")
    return out


def _fit(v: Any, t: Any) -> tuple[bool, Any]:
    if t is Any:
        return True, v
    if t is type(None) or t is None:
        return v is None, v
    if t is bool:
        return isinstance(v, bool), v
    if t is int:
        return isinstance(v, int) and not isinstance(v, bool), v
    if t is float:  # JSON has one number type: an int is a float here
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        return ok, float(v) if ok else v
    if t is str:
        return isinstance(v, str), v
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is typing.Literal:
        return any(v == a and type(v) is type(a) for a in args), v
    if origin in (typing.Union, types.UnionType):
        for a in args:
            ok, out = _fit(v, a)
            if ok:
                return True, out
        return False, v
    if t is list or origin in (list, tuple):
        if not isinstance(v, (list, tuple)):
            return False, v
        item = args[0] if args else Any
        fitted = [_fit(x, item) for x in v]
        return all(ok for ok, _ in fitted), [x for _, x in fitted]
    if t is dict or origin is dict:
        if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
            return False, v
        item = args[1] if args else Any
        fitted_d = {k: _fit(x, item) for k, x in v.items()}
        return all(ok for ok, _ in fitted_d.values()), {k: x for k, (_, x) in fitted_d.items()}
    return False, v


def _show(t: Any) -> str:
    return t.__name__ if isinstance(t, type) else str(t).replace("typing.", "")
