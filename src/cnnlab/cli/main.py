"""Entry point of the ``cnnlab`` console script.

Every subcommand lives in its own module and is added to :data:`cli` here. Bad input never
ends in a traceback: :class:`~cnnlab.errors.CnnlabError` and click's usage errors become one
line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
import warnings

import click

from cnnlab import __version__
from cnnlab.cli.arith import arith
from cnnlab.cli.datasets import datasets
from cnnlab.cli.demo import demo
from cnnlab.cli.diagram import diagram
from cnnlab.cli.ensemble import ensemble
from cnnlab.cli.explain import explain
from cnnlab.cli.export import export
from cnnlab.cli.fine_tune import fine_tune_command
from cnnlab.cli.kernels import kernels
from cnnlab.cli.run import run
from cnnlab.cli.studio import studio
from cnnlab.cli.summary import models, summary
from cnnlab.cli.train import evaluate, predict, train
from cnnlab.errors import CnnlabError, CnnlabWarning


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cnnlab")
def cli() -> None:
    """cnnlab: convolutional neural networks made real, inspectable and fast."""


cli.add_command(arith)
cli.add_command(datasets)
cli.add_command(explain)
cli.add_command(kernels)
cli.add_command(summary)
cli.add_command(models)
cli.add_command(demo)
cli.add_command(diagram)
cli.add_command(train)
cli.add_command(fine_tune_command)
cli.add_command(evaluate)
cli.add_command(ensemble)
cli.add_command(predict)
cli.add_command(export)
cli.add_command(studio)
cli.add_command(run)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """cnnlab's own warnings as one line, ``warning: ...``; others as Python shows them."""
    if issubclass(category, CnnlabWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (0, or 2 for bad input)."""
    warnings.showwarning = _show_warning
    try:
        args = list(sys.argv[1:] if argv is None else argv)
        code = cli.main(args=args, prog_name="cnnlab", standalone_mode=False, obj={"argv": args})
    except CnnlabError as error:
        click.echo(f"error: {error}", err=True)
        return 2
    except click.exceptions.NoArgsIsHelpError as error:
        click.echo(error.ctx.get_help() if error.ctx else error.format_message())
        return 0
    except click.ClickException as error:
        click.echo(f"error: {error.format_message()}", err=True)
        return 2
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        click.echo(f"error: cannot read or write{where}: {error.strerror or error}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 1
    except click.exceptions.Exit as error:
        return error.exit_code
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
