from alembic import context

from services.common.migrations import run_env
from services.partners.models import Base

run_env(context, "partners", Base.metadata)
