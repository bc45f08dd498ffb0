"""One APIRouter per concern: predict, v2 (the Open Inference Protocol), health, models, ui."""
