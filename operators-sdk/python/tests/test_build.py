import sys
from pathlib import Path

import pytest
from weir_operator import __main__ as cli
from weir_operator import _build
from weir_operator._build import BuildError, load_project

REPO_WIT = Path(__file__).resolve().parents[2] / "wit" / "operator.wit"


def test_the_packaged_wit_is_the_repository_contract():
    """The package ships a copy of operators-sdk/wit/operator.wit (package data
    must live inside the package); this keeps the copy identical."""
    packaged = _build.wit_dir() / "operator.wit"
    assert packaged.read_bytes() == REPO_WIT.read_bytes(), (
        "operators-sdk/python/src/weir_operator/wit/operator.wit differs from "
        "operators-sdk/wit/operator.wit: copy the contract over"
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_project_is_a_directory_with_app_py(tmp_path):
    write(tmp_path / "app.py", "")
    project = load_project(tmp_path)
    assert (project.module, project.python_path, project.name) == ("app", [], tmp_path.name)


def test_pyproject_names_the_module_and_extra_paths(tmp_path):
    write(tmp_path / "src" / "wordsplit" / "__init__.py", "")
    write(tmp_path / "vendor" / "dep.py", "")
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "splitter"\n\n'
        '[tool.weir]\nmodule = "wordsplit"\npython-path = ["src", "vendor"]\n',
    )
    project = load_project(tmp_path)
    assert project.module == "wordsplit"
    assert project.name == "splitter"
    assert project.python_path == [tmp_path / "src", tmp_path / "vendor"]


@pytest.mark.parametrize(
    "files, message",
    [
        ({}, "no operator module `app`"),
        (
            {"pyproject.toml": '[tool.weir]\nmodule = "tokenize"\n', "tokenize.py": ""},
            "standard library",
        ),
        (
            {"pyproject.toml": '[tool.weir]\nmodule = "operator"\n', "operator.py": ""},
            "standard library",
        ),
        ({"pyproject.toml": '[tool.weir]\nmodule = "my-op"\n'}, "not a Python module name"),
        ({"pyproject.toml": '[tool.weir]\nmodule = "weir_operator"\n'}, "the SDK uses that name"),
        (
            {"pyproject.toml": '[tool.weir]\nmodul = "x"\n', "app.py": ""},
            "unknown [tool.weir] setting modul",
        ),
        (
            {"pyproject.toml": '[tool.weir]\npython-path = ["nowhere"]\n', "app.py": ""},
            "is not a directory",
        ),
        ({"pyproject.toml": "[tool.weir\n", "app.py": ""}, "pyproject.toml"),
    ],
)
def test_project_problems_are_explained(tmp_path, files, message):
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(BuildError, match=message.replace("[", r"\[")):
        load_project(tmp_path)


def test_a_missing_toolchain_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    write(tmp_path / "app.py", "")
    monkeypatch.delenv("WEIR_COMPONENTIZE_PY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    assert cli.main(["build", str(tmp_path), "-o", str(tmp_path / "out.wasm")]) == 1
    err = capsys.readouterr().err
    assert "error: componentize-py is not installed" in err
    assert "scripts/setup-python.sh" in err
    assert f"componentize-py=={_build.COMPONENTIZE_PY_VERSION}" in err
    assert not (tmp_path / "out.wasm").exists()


def test_a_named_toolchain_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("WEIR_COMPONENTIZE_PY", str(tmp_path / "nothing"))
    with pytest.raises(BuildError, match="WEIR_COMPONENTIZE_PY=.* is not an executable"):
        _build.find_componentize_py()


def test_the_wit_command_prints_the_contract_directory(capsys):
    assert cli.main(["wit"]) == 0
    assert Path(capsys.readouterr().out.strip()) == _build.wit_dir()
