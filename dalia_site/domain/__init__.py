"""Pure rules of the site, without Flask: each takes plain values or models and a DB session."""

# Every session that writes through the models keeps each patient's next step (domain/recall.py)
# and the consultations held as the activity figures count them (domain/held_visits.py) and
# each patient's last activity as retention counts it (domain/last_active.py): registered as soon
# as any rule of the site is imported, whatever the entry point.
from dalia_site.domain import held_visits as _held_visits  # noqa: E402, F401
from dalia_site.domain import last_active as _last_active  # noqa: E402, F401
from dalia_site.domain import recall as _recall  # noqa: E402, F401
