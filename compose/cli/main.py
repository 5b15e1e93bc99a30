"""Entry point of the ``compose`` command.

Subcommands are modules listed in :data:`COMMAND_MODULES`; each defines
``register(subparsers)`` which adds its parser and sets ``func`` to a function
``run(args) -> int`` returning the exit code. Errors raised as :class:`ComposeError` are printed
as ``error[E###]: message`` with the source excerpt and exit with the phase's code; ``--debug``
shows the traceback instead. Exit codes: 0 ok, 2 usage, 3 scene, 4 layout, 5 backbone,
6 verification failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from compose.cli.console import print_error
from compose.errors import ComposeError

#: Modules that register subcommands, in the order ``compose --help`` lists them.
COMMAND_MODULES = [
    "compose.cli.scene_commands",
    "compose.cli.layout",
    "compose.cli.world",
    "compose.cli.render",
    "compose.cli.generate",
    "compose.cli.bench",
    "compose.cli.verify",
    "compose.cli.generate_batch",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on usage errors: keep that code
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error[usage]: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from compose import __version__

    parser = _Parser(prog="compose", description="Scene programs and prompts to verified images.")
    parser.add_argument("--version", action="version", version=f"compose {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except ComposeError as err:
        if debug:
            raise
        print_error(err)
        return err.exit_code
    except BrokenPipeError:  # the reader went away (`compose schema | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        if debug:
            raise
        # SIGTERM during a batch arrives as a Terminated interrupt; finished rows are on disk
        code = getattr(exc, "exit_code", 130)
        sys.stderr.write("terminated; finished rows are kept, run again to resume\n" if code == 143
                         else "interrupted\n")
        return code
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except Exception as exc:  # an unexpected bug: one line, the traceback only with --debug
        if debug:
            raise
        sys.stderr.write(f"error[internal]: {type(exc).__name__}: {exc}\n"
                         "This is a bug in compose; run again with --debug for the traceback.\n")
        return 1


def run_entry() -> None:  # pragma: no cover
    raise SystemExit(main())


__all__ = ["build_parser", "main"]
