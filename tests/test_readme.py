"""The README's example runs as written against a running router (only the port differs)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests.conftest import Pipeline

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_example_runs_against_the_router(pipeline: Pipeline) -> None:
    [example] = python_blocks()
    assert "http://127.0.0.1:8080/v1" in example
    code = example.replace("http://127.0.0.1:8080/v1", pipeline.router.url + "/v1")
    printed = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    namespace["client"].close()  # type: ignore[attr-defined]
    assert printed.getvalue().startswith("beta-sonnet 1 CompletionUsage(")
    [row] = pipeline.rows()
    assert (row["route"], row["tenant"], row["feature"]) == ("support", "acme", "chat")
