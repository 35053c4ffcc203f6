"""Config loading: the shipped example is valid; every fault names the file, the field and the fault."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from routeledger.cli import app
from routeledger.config import load_config
from routeledger.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "routeledger.yaml"


def example() -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load(EXAMPLE.read_text())
    assert isinstance(data, dict)
    return data


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "routeledger.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_the_shipped_example_is_valid() -> None:
    config = load_config(EXAMPLE, environ={})
    assert set(config.routes) == {"support", "summarize", "extract", "draft", "contract-review"}
    assert config.routes["contract-review"].sensitive
    assert not config.keys  # authentication is off until a key is configured
    assert config.providers["alpha"].base_url == "http://127.0.0.1:8700/alpha/v1"


def test_environment_references_are_expanded() -> None:
    config = load_config(EXAMPLE, environ={"ROUTELEDGER_SIMULATOR_URL": "http://10.1.2.3:9"})
    assert config.providers["beta"].base_url == "http://10.1.2.3:9/beta/v1"


def _chain_typo(d: dict) -> None:  # type: ignore[type-arg]
    d["routes"]["support"]["chain"][1] = "alpha-4"


def _unknown_key(d: dict) -> None:  # type: ignore[type-arg]
    d["routes"]["draft"]["max_atempts"] = 3


def _missing_task(d: dict) -> None:  # type: ignore[type-arg]
    del d["routes"]["extract"]["task"]


def _bad_provider(d: dict) -> None:  # type: ignore[type-arg]
    d["models"]["alpha-mini"]["provider"] = "gamma"


def _bad_kind(d: dict) -> None:  # type: ignore[type-arg]
    d["providers"]["alpha"]["kind"] = "cohere"


def _bad_url(d: dict) -> None:  # type: ignore[type-arg]
    d["providers"]["beta"]["base_url"] = "ftp://example"


def _bad_window(d: dict) -> None:  # type: ignore[type-arg]
    d["models"]["beta-haiku"]["context_window"] = 0


def _unknown_price(d: dict) -> None:  # type: ignore[type-arg]
    d["models"]["alpha-4o"]["price"] = {"genai_prices": "gpt-99-imaginary", "provider": "openai"}


def _price_shape(d: dict) -> None:  # type: ignore[type-arg]
    d["models"]["alpha-4o"]["price"] = {"input_per_mtok": 1}


def _duplicate_hop(d: dict) -> None:  # type: ignore[type-arg]
    d["routes"]["draft"]["chain"] = ["beta-haiku", "beta-haiku"]


def _empty_chain(d: dict) -> None:  # type: ignore[type-arg]
    d["routes"]["draft"]["chain"] = []


def _bad_fault(d: dict) -> None:  # type: ignore[type-arg]
    d["simulator"]["faults"][0]["kind"] = "meteor"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(_chain_typo, "routes.support.chain[1]: unknown model 'alpha-4' (known: ", id="chain-typo"),
        pytest.param(_unknown_key, "routes.draft.max_atempts: unknown key (not allowed here)", id="unknown-key"),
        pytest.param(_missing_task, "routes.extract.task: required field is missing", id="missing-field"),
        pytest.param(
            _bad_provider, "models.alpha-mini.provider: unknown provider 'gamma' (known: alpha, beta)", id="provider"
        ),
        pytest.param(_bad_kind, "providers.alpha.kind: Input should be 'openai' or 'anthropic'", id="kind"),
        pytest.param(_bad_url, "providers.beta.base_url: Value error, must be an http(s) URL", id="url"),
        pytest.param(_bad_window, "models.beta-haiku.context_window: Input should be greater than 0", id="window"),
        pytest.param(
            _unknown_price,
            "models.alpha-4o.price.genai_prices: genai-prices has no model 'gpt-99-imaginary'",
            id="price-ref",
        ),
        pytest.param(
            _price_shape, "models.alpha-4o.price.output_per_mtok: required field is missing", id="price-shape"
        ),
        pytest.param(_duplicate_hop, "routes.draft.chain: a model appears twice in the chain", id="duplicate-hop"),
        pytest.param(_empty_chain, "routes.draft.chain: List should have at least 1 item", id="empty-chain"),
        pytest.param(_bad_fault, "simulator.faults[0].kind: Input should be", id="fault-kind"),
    ],
)
def test_a_bad_file_names_file_field_and_fault(tmp_path: Path, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    data = example()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).startswith(f"{path}: {expected}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("routes: [unclosed", "not valid YAML: line 1, column", id="yaml"),
        pytest.param("- a list", "the file must hold a mapping at the top level", id="not-a-mapping"),
        pytest.param("providers: {}\nmodels: {}\n", "routes: required field is missing", id="no-routes"),
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="^" + str(path).replace(".", r"\.") + ": " + expected.split(":")[0]):
        load_config(path, environ={})
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert expected in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml", environ={})
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: file not found"


def test_cli_exits_2_with_one_line_naming_the_field(tmp_path: Path) -> None:
    data = example()
    _chain_typo(data)
    path = write(tmp_path, data)
    result = CliRunner().invoke(app, ["config", "check", "--config", str(path)])
    assert result.exit_code == 2
    assert f"config error: {path}: routes.support.chain[1]: unknown model 'alpha-4'" in " ".join(result.output.split())


def test_cli_accepts_the_example() -> None:
    result = CliRunner().invoke(app, ["config", "check", "--config", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "ok (2 providers, 4 models, 5 routes)" in result.output
