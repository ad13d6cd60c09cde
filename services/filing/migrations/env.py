from alembic import context

from services.common.migrations import run_env
from services.filing.models import Base

run_env(context, "filing", Base.metadata)
