"""Command line: ``python -m weir_operator build PROJECT [-o OUT.wasm]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._build import BuildError, build, wit_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m weir_operator",
        description="Build Weir operators written in Python into WebAssembly components.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser(
        "build",
        help="build an operator project into a component",
        description="Build an operator project (a directory with app.py, or the module "
        "named by [tool.weir] in its pyproject.toml) into a component.",
    )
    build_cmd.add_argument("project", type=Path, help="the project directory")
    build_cmd.add_argument(
        "-o",
        "--output",
        type=Path,
        help="where to write the component (default: PROJECT/NAME.wasm)",
    )
    build_cmd.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    commands.add_parser("wit", help="print the directory of the WIT contract this SDK implements")
    args = parser.parse_args(argv)

    if args.command == "wit":
        print(wit_dir())
        return 0
    try:
        build(args.project, args.output, quiet=args.quiet)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
