"""The click group: one-line errors and exit codes, --debug, and the options commands share."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from lakehouse import __version__
from lakehouse.core.errors import EXIT_INFRASTRUCTURE, LakehouseError
from lakehouse.core.paths import ROOT_ENV
from lakehouse.core.stop import StopRequest, woken_by_signals
from lakehouse.ingest.materialize import Outcome
from lakehouse.ingest.streams import DEFAULT_MAX_LINE_BYTES


def say(message: str) -> None:
    click.echo(message, err=True)


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[StopRequest]:
    """A stop request that SIGTERM and Ctrl-C make instead of ending the process, so that a long-running
    command (otlp serve, lake publisher) finishes its work first; the previous handlers come back after.
    (Not a threading.Event: setting one from a handler can deadlock, core/stop.py.)"""
    with StopRequest() as stop, woken_by_signals(stop, (signal.SIGTERM, signal.SIGINT)):
        yield stop


def given(ctx: click.Context, name: str) -> bool:
    """Whether the user gave parameter ``name`` (on the command line or by its variable), not its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source not in (
        click.core.ParameterSource.DEFAULT,
        click.core.ParameterSource.DEFAULT_MAP,
    )


def only_with(ctx: click.Context, name: str, acts: bool, when: str) -> None:
    """Refuse an option given where it would do nothing (one line, exit 2), instead of ignoring it.

    ``acts``: whether the rest of the command line lets option ``name`` act; ``when``: what it needs.
    """
    if given(ctx, name) and not acts:
        flag = next(p.opts[0] for p in ctx.command.params if p.name == name)
        raise click.UsageError(f"{flag} does nothing here: it acts only {when}", ctx)


# The module of lakehouse.cli that defines each command: imported when the command is asked for, so a
# `lakehouse materialize` does not import the code of replay, the lake or OTLP (~0.1 s); --help imports
# them all. tests/test_cli.py checks that this names every command, each by its module.
COMMAND_MODULES = {
    "compact": "ingest",
    "compare": "compare",
    "corpus": "corpus",
    "demo": "demo",
    "lake": "lake",
    "materialize": "ingest",
    "otlp": "otlp",
    "prices": "prices",
    "prune": "prune",
    "quarantine": "quarantine",
    "query": "sql",
    "rebuild": "ingest",
    "regate": "replay",
    "replay": "replay",
    "report": "report",
    "sql": "sql",
    "stats": "sql",
    "sync": "ingest",
}


class LakehouseGroup(click.Group):
    """Turns every error into one line ``error: ...`` on stderr and an exit code (README, "Exit codes").

    Library errors carry their exit code; click's usage errors exit 2; anything unexpected exits 4
    and asks for ``--debug``, which shows the traceback instead. Commands are loaded when asked for
    (``COMMAND_MODULES``).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | COMMAND_MODULES.keys())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"lakehouse.cli.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as exc:  # usage errors before a command ran: one line, not click's four
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
            say(f"error: {exc.format_message()}{hint}")
            sys.exit(exc.exit_code)
        except click.Abort:
            say("interrupted")
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        def debug() -> bool:  # read late: --debug is stored by the group's callback, inside invoke
            return bool(ctx.obj and ctx.obj.get("debug"))

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except LakehouseError as exc:
            if debug():
                raise
            say(f"error: {exc}")
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            # The reader went away (`lakehouse sql ... | head`): stop quietly, like other Unix tools.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except OSError as exc:
            if debug():
                raise
            say(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
            ctx.exit(EXIT_INFRASTRUCTURE)
        except KeyboardInterrupt:
            say("interrupted")
            ctx.exit(130)
        except Exception as exc:
            if debug():
                raise
            message = " ".join(str(exc).split()) or "no message"
            say(
                f"error: internal error ({type(exc).__name__}: {message}); run with --debug for the traceback"
            )
            ctx.exit(EXIT_INFRASTRUCTURE)


def embedding_model_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--embedding-model",
        help="Embedding model for vector retrieval (default: $LH_EMBEDDING_MODEL; none: BM25 only).",
    )(func)


def _to_environment(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A gateway setting given on the command line is the process's setting, as its variable would be:
    every gateway the command opens (replays, batches, embeddings) reads it there."""

    def store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            os.environ[name] = str(value)
        return value

    return store


def gateway_url_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--gateway-url, and the transport settings every gateway call of the command uses."""
    from lakehouse.gateway import (  # here: only commands that call a gateway import httpx
        CA_BUNDLE_ENV,
        DEFAULT_TIMEOUT_S,
        MAX_CONNECT_TIMEOUT_S,
        TIMEOUT_ENV,
    )

    func = click.option(
        "--ca-bundle",
        type=click.Path(exists=True, dir_okay=False),
        expose_value=False,
        callback=_to_environment(CA_BUNDLE_ENV),
        help=f"PEM file of CAs to trust for an https:// gateway (default: ${CA_BUNDLE_ENV}, else the "
        "system's store, which honours $SSL_CERT_FILE).",
    )(func)
    func = click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        expose_value=False,
        callback=_to_environment(TIMEOUT_ENV),
        help=f"Seconds to wait for a gateway answer (default: ${TIMEOUT_ENV}, else {DEFAULT_TIMEOUT_S:g}); "
        f"connecting waits at most {MAX_CONNECT_TIMEOUT_S:g} s of it.",
    )(func)
    return click.option(
        "--gateway-url",
        help="OpenAI-compatible base URL (default: $LH_GATEWAY_URL, else http://127.0.0.1:11434). "
        "Proxies come from $HTTPS_PROXY, $HTTP_PROXY, $ALL_PROXY and $NO_PROXY.",
    )(func)


lake_option = click.option(
    "--lake",
    "on_lake",
    is_flag=True,
    help="Run on the lake this root joined (lakehouse lake init), read-only.",
)


def retrieval_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--retrieval, and --fusion for hybrid retrieval."""
    from lakehouse.retrieval import vectors  # here: only commands that retrieve import it

    func = click.option(
        "--fusion",
        type=click.Choice(vectors.FUSIONS),
        default="cc",
        show_default=True,
        help="With --retrieval hybrid: how it fuses BM25 and vectors: cc, a weighted sum of normalised scores "
        "(weight calibrated by 'lakehouse corpus tune-fusion', else "
        f"{vectors.DEFAULT_LEXICAL_WEIGHT:g} lexical), or rrf, reciprocal rank fusion.",
    )(func)
    return click.option(
        "--retrieval",
        "method",
        type=click.Choice(vectors.METHODS),
        default="bm25",
        show_default=True,
        help="bm25, vector (needs an embedding model), or hybrid (both, fused as --fusion says).",
    )(func)


def run_options(max_line_bytes_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of a materialize-like run: --transforms, --json, --no-wait, --max-line-bytes."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            "--max-line-bytes",
            type=click.IntRange(min=1024),
            default=DEFAULT_MAX_LINE_BYTES,
            show_default=True,
            help=max_line_bytes_help,
        )(func)
        func = click.option(
            "--no-wait", is_flag=True, help="Exit at once if another materialize holds the root's lock."
        )(func)
        func = click.option(
            "--json", "as_json", is_flag=True, help="Print the run's receipt as JSON on stdout."
        )(func)
        return click.option(
            "--transforms",
            "transforms_dir",
            type=click.Path(file_okay=False, exists=True, path_type=Path),
            help="Folder of extra transform .sql files (a file named like a built-in replaces it).",
        )(func)

    return decorate


def say_outcome(outcome: Outcome) -> None:
    """What a materialize-like run wants a person to know besides its summary."""
    if outcome.recovered:
        say("note: finished the commit of a run that was interrupted")
    if outcome.mirror_warning:
        say(f"warning: {outcome.mirror_warning}")


def root_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"Project root holding data/ (default: ${ROOT_ENV}, else the current directory).",
    )(func)


@click.group(cls=LakehouseGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lakehouse")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """lakehouse: an embedded evidence store for LLM agent logs.

    Materialize JSONL logs into content-addressed evidence (Parquet + JSONL), and query it
    with SQL. Everything lives under ROOT/data (see --root).

    Example: lakehouse demo --root /tmp/lh
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
