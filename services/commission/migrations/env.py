from alembic import context

from services.commission.models import Base
from services.common.migrations import run_env

run_env(context, "commission", Base.metadata)
