"""Every table of the product, imported in one place (Alembic and tests read Base.metadata)."""

from __future__ import annotations

from notifications import models as notifications  # noqa: F401
from workflows.accounts import models as accounts  # noqa: F401
from workflows.beneficiaires import models as beneficiaires  # noqa: F401
from workflows.decp import models as decp  # noqa: F401
from workflows.engine.models import Base  # noqa: F401
from workflows.execution import models as execution  # noqa: F401
from workflows.gouvernance import models as gouvernance  # noqa: F401
from workflows.marches import models as marches  # noqa: F401
from workflows.referentiel import models as referentiel  # noqa: F401
from workflows.rgpd import models as rgpd  # noqa: F401
