"""One APIRouter per concern: predict, health, models, ui."""
