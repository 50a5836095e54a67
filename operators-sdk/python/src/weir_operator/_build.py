"""``python -m weir_operator build``: an operator project to a component.

A project is a directory holding the operator's module, by default
``app.py`` (or a package ``app/``). An optional ``pyproject.toml`` in it may
say otherwise::

    [tool.weir]
    module = "wordsplit"          # the operator's module (default "app")
    python-path = ["src", "lib"]  # more directories to import from
    name = "wordsplit"            # default output name: <name>.wasm

The build copies the SDK, the project and a generated entry module to a
temporary directory and runs componentize-py there. componentize-py imports
everything at build time and snapshots the initialized interpreter into the
component, so the operator's module and whatever it imports at top level are
what the component holds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

#: The componentize-py release this SDK is built and tested with.
COMPONENTIZE_PY_VERSION = "0.25.1"

_ENTRY = "weir_component_entry"

#: Module names the component already uses for itself.
_RESERVED = {
    "weir_operator",
    "wit_world",
    "componentize_py_types",
    "componentize_py_runtime",
    _ENTRY,
}

_INSTALL_HINT = (
    "Run scripts/setup-python.sh from the Weir repository (it installs componentize-py "
    f"{COMPONENTIZE_PY_VERSION} into $WEIR_TOOLS/python) and build with "
    "$WEIR_TOOLS/python/bin/python -m weir_operator build, or install it into this "
    f"environment: pip install componentize-py=={COMPONENTIZE_PY_VERSION}"
)


class BuildError(Exception):
    """The project cannot be built; the message says why and what to do."""


@dataclass
class Project:
    root: Path
    module: str = "app"
    python_path: list[Path] = field(default_factory=list)
    name: str = ""


def load_project(root: Path) -> Project:
    """Reads a project directory and its ``[tool.weir]`` settings."""
    root = root.resolve()
    if not root.is_dir():
        raise BuildError(f"{root} is not a directory")
    project = Project(root=root, name=root.name)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            settings = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise BuildError(f"{pyproject}: {e}") from None
        weir = settings.get("tool", {}).get("weir", {})
        unknown = sorted(set(weir) - {"module", "python-path", "name"})
        if unknown:
            raise BuildError(
                f"{pyproject}: unknown [tool.weir] setting {', '.join(unknown)} "
                "(known: module, python-path, name)"
            )
        module = weir.get("module", project.module)
        paths = weir.get("python-path", [])
        name = weir.get("name", settings.get("project", {}).get("name", project.name))
        if not isinstance(module, str) or not isinstance(name, str):
            raise BuildError(f"{pyproject}: [tool.weir] module and name are strings")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise BuildError(f"{pyproject}: [tool.weir] python-path is a list of directories")
        project.module = module
        project.name = name
        project.python_path = [(root / p).resolve() for p in paths]
        for path in project.python_path:
            if not path.is_dir():
                raise BuildError(f"{pyproject}: python-path entry {path} is not a directory")
    _check_module_name(project)
    return project


def _check_module_name(project: Project) -> None:
    module = project.module
    if not all(part.isidentifier() for part in module.split(".")):
        raise BuildError(f"the operator module `{module}` is not a Python module name")
    top = module.split(".")[0]
    if top in sys.stdlib_module_names:
        raise BuildError(
            f"the operator module `{module}` has the name of a module of Python's standard "
            "library, which it would hide; rename it (set [tool.weir] module in pyproject.toml)"
        )
    if top in _RESERVED:
        raise BuildError(
            f"the operator module may not be called `{module}`: the SDK uses that name"
        )
    relative = Path(*module.split("."))
    for base in (project.root, *project.python_path):
        if (base / relative).with_suffix(".py").is_file() or (
            base / relative / "__init__.py"
        ).is_file():
            return
    raise BuildError(
        f"no operator module `{module}` in {project.root}: write {relative}.py there, or name "
        'the module in pyproject.toml ([tool.weir] module = "...")'
    )


def find_componentize_py() -> str:
    """The componentize-py executable: `$WEIR_COMPONENTIZE_PY`, the one next
    to this Python, or the one on PATH."""
    explicit = os.environ.get("WEIR_COMPONENTIZE_PY")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise BuildError(f"WEIR_COMPONENTIZE_PY={explicit} is not an executable")
        return explicit
    beside = Path(sys.executable).parent / "componentize-py"
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("componentize-py")
    if found is None:
        raise BuildError(f"componentize-py is not installed. {_INSTALL_HINT}")
    return found


def componentize_py_version(executable: str) -> str:
    try:
        done = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, check=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise BuildError(f"cannot run {executable}: {e}. {_INSTALL_HINT}") from None
    match = re.search(r"(\d+\.\d+\.\d+)", done.stdout)
    return match.group(1) if match else done.stdout.strip()


def wit_dir() -> Path:
    """The WIT contract shipped inside this package."""
    return Path(str(resources.files("weir_operator") / "wit"))


#: What staging leaves behind: caches, components, hidden directories (a
#: `.venv`, `.git`).
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.wasm", ".*")


def _stage(staging: Path, project: Project) -> list[Path]:
    """Copies the SDK and the project into `staging`, and writes the entry
    module there; returns the directories to put on the Python path.

    componentize-py compiles what it imports and leaves `__pycache__`
    directories next to the sources, so it works on copies: a build writes
    nothing into the project but the component.
    """
    package = Path(__file__).resolve().parent
    shutil.copytree(
        package,
        staging / "sdk" / "weir_operator",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "wit", "py.typed"),
    )
    paths = [staging / "sdk", staging / "project"]
    shutil.copytree(project.root, paths[1], ignore=_SKIP)
    for i, extra in enumerate(project.python_path):
        paths.append(staging / f"path{i}")
        shutil.copytree(extra, paths[-1], ignore=_SKIP)
    (staging / "sdk" / f"{_ENTRY}.py").write_text(
        "# The component's entry module, generated by `python -m weir_operator build`.\n"
        "import weir_operator._guest\n"
        f"import {project.module} as _operator_module\n"
        "\n"
        "Handler = weir_operator._guest.handler_for(_operator_module)\n",
        encoding="utf-8",
    )
    return paths


def build(
    project_dir: Path,
    output: Path | None = None,
    *,
    quiet: bool = False,
) -> Path:
    """Builds the project at `project_dir` into a component; returns its path."""
    project = load_project(project_dir)
    output = (output or project.root / f"{project.name}.wasm").resolve()
    executable = find_componentize_py()
    version = componentize_py_version(executable)
    if version != COMPONENTIZE_PY_VERSION and not quiet:
        print(
            f"warning: componentize-py {version} is not the tested {COMPONENTIZE_PY_VERSION}",
            file=sys.stderr,
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="weir-python-build-") as tmp:
        staging = Path(tmp)
        paths = _stage(staging, project)
        partial = staging / "component.wasm"
        command = [executable, "-d", str(wit_dir()), "-w", "operator", "componentize", _ENTRY]
        for path in paths:
            command += ["-p", str(path)]
        command += ["-o", str(partial)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not partial.is_file():
            details = (done.stderr.strip() or done.stdout.strip())[-8000:]
            raise BuildError(f"componentize-py failed to build {project.root}:\n{details}")
        # Written elsewhere first, so a failed build never leaves a partial file at `output`.
        shutil.move(str(partial), output)
    if not quiet:
        size = output.stat().st_size / 1e6
        print(
            f"built {output} ({size:.1f} MB) in {time.monotonic() - started:.1f}s",
            file=sys.stderr,
        )
    return output
