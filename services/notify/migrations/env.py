from alembic import context

from services.common.migrations import run_env
from services.notify.models import Base

run_env(context, "notify", Base.metadata)
