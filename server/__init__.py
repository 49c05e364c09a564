"""Flask server, CLI and scheduler wiring.

Importing the server registers the engine listeners of the domain and of the notifications, so
a task completed from the web, the API, the CLI or the scheduler has the same effects.
"""

import notifications  # noqa: F401  (meeting invitations, new-task notices)
import workflows.marches  # noqa: F401  (lifecycle tasks → marché records)
