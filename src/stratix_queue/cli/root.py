"""The root ``stratix-queue`` group and the entry point that maps errors to exit codes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from stratix_queue.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, State, error_line
from stratix_queue.errors import StratixQueueError
from stratix_queue.logformat import configure_logging
from stratix_queue.urls import URL_ENV


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=f"The database URL comes from --url, else ${URL_ENV}, else sqlite:///stratix-queue.db."
    "\n\nExample: stratix-queue --url postgresql://app@db:5432/prod failed stats",
)
@click.option("--url", envvar=URL_ENV, help="Database URL, e.g. postgresql://user@host:5432/db.")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="stratix-queue", prog_name="stratix-queue")
@click.pass_context
def cli(ctx: click.Context, url: str | None, debug: bool) -> None:
    """stratix-queue: a task queue in SQLite, PostgreSQL or MySQL/MariaDB."""
    configure_logging(logging.DEBUG if debug else logging.WARNING)
    state = State(url, debug)
    ctx.obj = state
    ctx.call_on_close(state.close)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns 0 ok, 1 the operation failed, 2 a usage error. One line on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        # Without standalone mode Click returns the code of ctx.exit(n) instead of raising it.
        code = cli.main(args, prog_name="stratix-queue", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:  # `stratix-queue` alone: show the help
        click.echo(exc.ctx.get_help() if exc.ctx else "")
        return EXIT_USAGE
    except click.UsageError as exc:
        path = exc.ctx.command_path.partition(" ")[2] if exc.ctx else ""
        error_line(f"{exc.format_message()} (see: stratix-queue {path} --help)")
        return EXIT_USAGE
    except click.Abort:
        click.echo("stratix-queue: aborted", err=True)
        return EXIT_FAILED
    except click.ClickException as exc:
        error_line(exc.format_message())
        return exc.exit_code
    except StratixQueueError as exc:
        if debug:
            raise
        error_line(str(exc))
        return EXIT_FAILED
    except Exception as exc:  # a bug of ours still ends in one line; --debug shows where
        if debug:
            raise
        error_line(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return EXIT_FAILED
    return code if isinstance(code, int) else EXIT_OK
