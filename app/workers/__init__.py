"""Upload child processes: the server's `ChildPool` and what it is built of (see `child_pool`)."""

from app.workers.child_pool import ChildPool
from app.workers.messages import Logits, Pixels
from app.workers.pool import Network, PoolUnavailable

__all__ = ["ChildPool", "Logits", "Network", "Pixels", "PoolUnavailable"]
