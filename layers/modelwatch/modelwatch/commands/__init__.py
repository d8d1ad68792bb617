"""Subcommands of the ``modelwatch`` command line, one module per group.

Each module exposes ``add_commands(subparsers)``, which adds its subparsers and
sets ``run`` (a function of the parsed arguments returning an exit code) on each.
Modules import their heavy dependencies inside ``run``, so ``modelwatch --help``
stays fast. A user-fixable error is raised as ``modelwatch.cli.CliError``.
"""

COMMAND_MODULES = (
    "modelwatch.commands.publish",
    "modelwatch.commands.monitoring",
    "modelwatch.commands.registry",
)
