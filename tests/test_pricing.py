"""Prices, costs from usage, and the offline token estimate."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from docgen.config import LLMSettings
from docgen.errors import ConfigError
from docgen.pricing import DEFAULT_PRICES, PricingTable, Usage, estimate_tokens, load_pricing


def test_cost_uses_input_cached_and_output_prices() -> None:
    table = PricingTable(DEFAULT_PRICES)
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000, cached_tokens=400_000)
    # gpt-4o: 600k x 2.50 + 400k x 1.25 + 1M x 10.00 (per 1M)
    assert table.cost("gpt-4o", usage) == Decimal("12.000000")
    assert table.cost("gpt-4o-2024-05-13", Usage(1_000_000, 1_000_000)) == Decimal("20.000000")


def test_dated_models_use_their_family_price() -> None:
    table = PricingTable(DEFAULT_PRICES)
    price, warning = table.price_for("gpt-4o-mini-2024-07-18")
    assert price == DEFAULT_PRICES["gpt-4o-mini"] and warning is None
    _, warning = table.price_for("llama-3-70b")
    assert warning and "not in the pricing table" in warning
    assert table.cost("offline-static-analysis-1", Usage(10, 10)) == 0


def test_pricing_file_overrides(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"my-local-model": {"input": 0.5, "output": 1}}))
    table = load_pricing(LLMSettings(pricing_file=path))
    assert table.cost("my-local-model", Usage(2_000_000, 1_000_000)) == Decimal("2.000000")
    assert table.cost("gpt-4o", Usage(1_000_000, 0)) == Decimal("2.500000")


@pytest.mark.parametrize("content", ["not json", '{"m": {"input": 1}}', "[1, 2]"])
def test_bad_pricing_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="DOCGEN_LLM_PRICING_FILE"):
        load_pricing(LLMSettings(pricing_file=path))


def test_missing_pricing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_pricing(LLMSettings(pricing_file=tmp_path / "nope.json"))


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("", 0, 0),
        ("Only completed orders count as revenue.", 6, 9),
        ("select customer_id, sum(amount) from orders group by 1", 10, 16),
    ],
)
def test_token_estimate_is_in_range(text: str, low: int, high: int) -> None:
    assert low <= estimate_tokens(text) <= high


def test_an_organization_price_overrides_every_model_name() -> None:
    from types import SimpleNamespace

    from docgen.pricing import org_pricing, pricing_note

    local = SimpleNamespace(
        provider="openai",
        model="qwen2.5-coder:1.5b",
        input_price_per_million=Decimal(0),
        output_price_per_million=None,
    )
    table = org_pricing(local)
    # a local server may name the model by its file: the org's price still applies
    assert table.cost("/models/qwen2.5-coder-1.5b-q4.gguf", Usage(10_000, 5_000)) == 0
    assert pricing_note(local) is None
    unpriced = SimpleNamespace(**{**local.__dict__, "input_price_per_million": None})
    note = pricing_note(unpriced)
    assert note and "estimated at gpt-4o prices" in note and "--input-price" in note
    assert table.is_priced("anything") and not org_pricing(unpriced).is_priced("qwen")
