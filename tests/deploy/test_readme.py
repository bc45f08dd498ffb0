"""README.md stays true: every setting documented with its real default, every route shown, commands exist."""

import os
import re
from pathlib import Path

from app.settings import Settings

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
ROUTES = ["/livez", "/readyz", "/health", "/models", "/models/boston", "/metrics", "/predict/price",
          "/predict/price/batch", "/predict/digit", "/predict/digit/batch", "/v2", "/v2/health/ready",
          "/v2/models/mnist", "/v2/models/boston/infer"]  # fmt: skip


def _settings_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `(PADDLE_SERVE_\w+)` \| `([^`]*)`", README, flags=re.MULTILINE)
    return dict(rows)


def test_every_setting_is_documented_once_and_nothing_else() -> None:
    documented = _settings_rows()
    assert set(documented) == {f"PADDLE_SERVE_{name.upper()}" for name in Settings.model_fields}


def test_documented_defaults_are_the_real_defaults() -> None:
    documented = _settings_rows()
    for name, field in Settings.model_fields.items():
        if name == "models_dir":
            continue  # an absolute path of the checkout, described in words
        assert documented[f"PADDLE_SERVE_{name.upper()}"] == str(field.default), name


def test_every_route_has_a_curl_example() -> None:
    for route in ROUTES:
        assert re.search(rf"curl [^\n]*127\.0\.0\.1:8000{re.escape(route)}[\s?'\"]", README), route


def test_the_commands_it_names_exist_and_are_executable() -> None:
    for script in ("scripts/serve.sh", "scripts/test.sh", "scripts/container_smoke.sh", "scripts/lock.sh"):
        assert script in README
        assert os.access(REPO / script, os.X_OK), script
    assert "python -m training.boston_numpy" in README and "python -m training.mnist" in README
    assert not re.search(r"__[A-Z_]+__", README), "a placeholder is left in README.md"
