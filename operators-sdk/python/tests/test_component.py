"""End to end: build the repository's Python operators into components with
componentize-py and run them with the weir binary.

Needs the toolchain (scripts/setup-python.sh) and a built `weir` (found as
$WEIR, on PATH, or in $CARGO_TARGET_DIR or the repository's target/release);
each test says what it skipped for. `pytest -m "not component"` leaves them
out.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from weir_operator import _build

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.component


def find_weir():
    explicit = os.environ.get("WEIR")
    if explicit:
        return explicit
    on_path = shutil.which("weir")
    if on_path:
        return on_path
    for target in (os.environ.get("CARGO_TARGET_DIR"), REPO / "target"):
        if target and (Path(target) / "release" / "weir").is_file():
            return str(Path(target) / "release" / "weir")
    return None


@pytest.fixture(scope="session")
def weir():
    binary = find_weir()
    if binary is None:
        pytest.skip("no weir binary: build it (cargo build --release -p weir-cli) or set WEIR")
    return binary


@pytest.fixture(scope="session")
def build(tmp_path_factory):
    try:
        _build.find_componentize_py()
    except _build.BuildError as e:
        pytest.skip(str(e))
    out = tmp_path_factory.mktemp("components")
    built = {}

    def build_one(project: str) -> Path:
        if project not in built:
            built[project] = _build.build(
                REPO / project, out / (Path(project).name + ".wasm"), quiet=True
            )
        return built[project]

    return build_one


def run(weir, job: Path):
    return subprocess.run(
        [weir, "run", "--progress", "never", str(job)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_tokenizer_example_counts_words_like_the_rust_one(weir, build, tmp_path):
    module = build("examples/python/tokenize")
    job = (REPO / "examples/python/tokenize/job.yaml").read_text(encoding="utf-8")
    job = job.replace("module: tokenize.wasm", f"module: {module}")
    (tmp_path / "job.yaml").write_text(job, encoding="utf-8")
    # `weir run` lets a job read its own directory.
    shutil.copy(REPO / "examples/python/tokenize/input.txt", tmp_path / "input.txt")
    done = run(weir, tmp_path / "job.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (REPO / "examples/wordcount/expected.txt").read_text(encoding="utf-8")


def test_conform_output_is_byte_identical_to_the_reference(weir, build, tmp_path):
    expected = REPO / "tests/conformance/expected.jsonl"
    module = build("tests/fixtures/python/conform")
    job = (REPO / "tests/conformance/job.yaml").read_text(encoding="utf-8")
    (tmp_path / "job.yaml").write_text(job.replace("MODULE", str(module)), encoding="utf-8")
    shutil.copy(REPO / "tests/conformance/input.jsonl", tmp_path / "input.jsonl")
    done = subprocess.run(
        [weir, "run", "--progress", "never", str(tmp_path / "job.yaml")],
        capture_output=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == expected.read_bytes()


@pytest.mark.parametrize(
    "mode, message",
    [
        ("error", "failed in process: invalid-input error: misbehave: deliberate error on batch 1"),
        ("open-error", "failed in open: invalid-config error: misbehave: deliberate open failure"),
        ("trap", "trapped in process"),
        ("state", "failed in process: host error: value state `counts`: unavailable: "),
        ("loop", "exceeded its deadline"),
        ("memory-bomb", "exceeded its memory limit"),
    ],
)
def test_misbehaviour_fails_the_job_with_the_cause(weir, build, tmp_path, mode, message):
    module = build("tests/fixtures/python/misbehave")
    (tmp_path / "job.yaml").write_text(
        f"""name: misbehave
batchSize: 100
source: {{type: generator, count: 1000}}
operators:
  - name: misbehave
    module: {module}
    config: {{mode: {mode}, afterBatches: 1}}
    resources: {{memory: 64Mi, callTimeout: 1s}}
sink: {{type: blackhole}}
""",
        encoding="utf-8",
    )
    done = run(weir, tmp_path / "job.yaml")
    assert done.returncode == 1, done.stderr
    assert message in done.stderr
