"""Service configuration: one settings object read from `PADDLE_SERVE_*` environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from models import MODELS_DIR


class Settings(BaseSettings):
    """Every knob of the service; the defaults serve the committed models with no configuration."""

    model_config = SettingsConfigDict(env_prefix="PADDLE_SERVE_", frozen=True)

    models_dir: Path = Field(default=MODELS_DIR, description="folder holding boston/ and mnist/")
    cors_origins: str = Field(default="*", description="comma-separated origins allowed by CORS, or *")
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="largest digit upload request")
    max_json_bytes: int = Field(default=2 * 1024 * 1024, gt=0, description="largest JSON request body")
    max_image_pixels: int = Field(
        default=40_000_000, gt=0, description="largest decoded image (width x height)"
    )
    max_price_batch: int = Field(default=1000, gt=0)
    max_digit_batch: int = Field(default=64, gt=0, le=1024, description="at most app.uploads.MAX_FILES")
    batch_max_size: int = Field(default=32, gt=0, description="most images run as one network call")
    batch_max_wait_ms: float = Field(default=2.0, ge=0, description="how long a batch waits for company")
    queue_limit: int = Field(default=256, gt=0, description="images waiting for inference before 503")
    inference_timeout_s: float = Field(default=10.0, gt=0, description="deadline from queueing to answer")
    price_in_flight: int = Field(
        default=32, gt=0, description="price requests in work at once (the work itself runs one at a time)"
    )
    digit_in_flight: int | None = Field(
        default=None,
        gt=0,
        description="digit requests in work at once; default max(1, PREPARE_PROCESSES) x 2 x BATCH_MAX_SIZE",
    )
    admission_waiting: int = Field(
        default=1024, ge=0, description="requests per route class that may wait for a slot; more is 503"
    )
    queue_deadline_s: float = Field(
        default=1.0, gt=0, description="longest wait from a request's first byte to its start; then 503"
    )
    inference_threads: int = Field(default=1, gt=0, description="math threads of the digit backend")
    workers: int = Field(default=1, gt=0)
    prepare_processes: int = Field(
        default=1,
        ge=0,
        description="child processes per worker that prepare digit uploads and run the network (0: none)",
    )
    keep_alive_s: int = Field(
        default=75, gt=0, description="how long an idle keep-alive connection stays open (seconds)"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, gt=0, lt=65536)
    probe_port: int = Field(
        default=0, ge=0, lt=65536, description="/livez and /readyz also here, answered by a thread (0: off)"
    )
    probe_stall_s: float = Field(
        default=10.0, gt=0, description="/livez on the probe port is 503 when the event loop stalls this long"
    )
    access_log: bool = Field(
        default=True, description="one log line per request (not /livez, /readyz, /metrics)"
    )
    otel: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry (needs a provider); off, it costs ~15% of /livez",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    admin_token: SecretStr | None = Field(
        default=None, description="turns the model repository API on; requests need it as a bearer token"
    )
    admin_token_file: Path | None = Field(
        default=None, description="a file holding the admin token (a Docker or Kubernetes secret)"
    )
    api_tokens: SecretStr | None = Field(
        default=None, description="comma-separated bearer tokens every inference request needs (off: open)"
    )
    api_tokens_file: Path | None = Field(
        default=None, description="a file holding the inference tokens, one per line (a secret)"
    )

    @property
    def digit_in_flight_limit(self) -> int:
        """DIGIT_IN_FLIGHT, or enough to fill every batch in flight: two per upload child (or thread)."""
        return self.digit_in_flight or max(1, self.prepare_processes) * 2 * self.batch_max_size

    @cached_property
    def cors_origin_list(self) -> list[str]:
        """The CORS origins as a list."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
