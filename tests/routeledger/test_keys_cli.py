"""`routeledger keys new`: a fresh key on stdout, only its hash in the YAML it suggests."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from routeledger.cli import app
from routeledger.config import load_config
from routeledger.guardrails import hash_key


def test_keys_new_prints_a_key_and_an_entry_that_loads(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "new", "billing-app", "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("rl-") and len(key) > 40
    entry = yaml.safe_load(result.stderr.split("Add to routeledger.yaml:", 1)[1])
    assert entry == {"keys": {"billing-app": {"hash": hash_key(key), "tenant": "acme"}}}
    assert key not in result.stderr
    shipped = yaml.safe_load(Path("routeledger.yaml").read_text(encoding="utf-8"))
    shipped.setdefault("tenants", {})["acme"] = {}
    shipped["keys"] = entry["keys"]
    path = tmp_path / "routeledger.yaml"
    path.write_text(yaml.safe_dump(shipped), encoding="utf-8")
    assert load_config(path, {}).keys["billing-app"].tenant == "acme"
    again = CliRunner().invoke(app, ["keys", "new", "billing-app", "--tenant", "acme"]).stdout.strip()
    assert again != key
