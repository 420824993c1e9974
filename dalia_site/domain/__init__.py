"""Pure rules of the site, without Flask: each takes plain values or models and a DB session."""

# Every session that writes through the models keeps each patient's next step (domain/recall.py),
# the consultations held and each day's visits as the activity figures count them
# (domain/held_visits.py, domain/visit_days.py), each month's referrals by origin and decision
# (domain/referral_months.py), when each patient in follow-up was overdue
# (domain/overdue_spans.py), the roster's version the figures' days are kept
# against (domain/roster_version.py) and each patient's last activity as retention counts it
# (domain/last_active.py): registered as soon as any rule of the site is imported, whatever the
# entry point.
from dalia_site.domain import held_visits as _held_visits  # noqa: E402, F401
from dalia_site.domain import last_active as _last_active  # noqa: E402, F401
from dalia_site.domain import overdue_spans as _overdue_spans  # noqa: E402, F401
from dalia_site.domain import recall as _recall  # noqa: E402, F401
from dalia_site.domain import referral_months as _referral_months  # noqa: E402, F401
from dalia_site.domain import roster_version as _roster_version  # noqa: E402, F401
from dalia_site.domain import visit_days as _visit_days  # noqa: E402, F401
