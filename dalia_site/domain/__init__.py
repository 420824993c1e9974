"""Pure rules of the site, without Flask: each takes plain values or models and a DB session."""

# Every session that writes through the models keeps each patient's next step (domain/recall.py):
# registered as soon as any rule of the site is imported, whatever the entry point.
from dalia_site.domain import recall as _recall  # noqa: E402, F401
