"""A few synthetic referrals for the demo site, made through the same domain functions as the app.

Every name here is invented. (The synthetic year of activity belongs to the activity issue.)
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from dalia_site.domain import partners, referrals
from dalia_site.models import PartnerOrganisation, StaffUser

# (last name, first names, birth date, sex, postcode, commune, ALD, médecin traitant, channel,
#  partner category or None, referrer, reason, decision)
REFERRALS = (
    ("Fabre", "Martine", date(1952, 4, 11), "F", "11000", "Carcassonne", "yes", "none", "link",
     "autre", "IDE libérale Combes", "Diabète de type 2, sans médecin traitant depuis le départ "
     "en retraite de son médecin.", None),
    ("Saint-Étienne", "Jean-Pierre", date(1948, 2, 1), "M", "11300", "Limoux", "unknown", "none",
     "phone", "hopital_clinique", "Dr Urgentiste (SAU)", "Vu aux urgences, ALD probable, à revoir "
     "en consultation programmée.", None),
    ("Cabrol", "Louis", date(1961, 9, 23), "M", "11000", "Carcassonne", "yes", "none", "direct",
     None, "", "Venu de lui-même après l'article de presse.", "accepted"),
    ("Vidal", "Odette", date(1939, 12, 5), "F", "12000", "Rodez", "yes", "none", "phone", "cpts",
     "Pharmacie du centre", "Insuffisance cardiaque, hors secteur.", "declined"),
    ("Roques", "Henri", date(1957, 7, 30), "M", "11100", "Narbonne", "yes", "none", "phone",
     "cpts", "Dr Martin (remplaçant)", "Hypertension, en attente d'un médecin traitant.",
     "waiting_list"),
)


def seed_referrals(session: Session, site_name: str) -> int:
    assistant = session.scalar(select(StaffUser).where(StaffUser.role == "assistant"))
    count = 0
    for (last, first, born, sex, postcode, commune, ald, gp, channel, category, referrer,
         reason, decision) in REFERRALS:
        source = session.scalar(select(PartnerOrganisation).where(
            PartnerOrganisation.category == category).order_by(PartnerOrganisation.id)) \
            if category else None
        link = None
        if channel == "link":
            link, _ = partners.create_referral_link(session, assistant, source, "Démonstration")
        referral = referrals.receive(
            session, None if link else assistant, channel,
            {"last_name": last, "first_names": first, "birth_date": born, "sex": sex,
             "postcode": postcode, "commune": commune, "ald": ald, "gp_status": gp},
            {"referrer_name": referrer, "referrer_phone": "05 00 00 00 00" if referrer else ""},
            reason, source=source, link=link, site_name=site_name)
        if decision == "declined":
            referrals.decide(session, assistant, referral, decision,
                             "Hors du territoire du centre", "sas", site_name=site_name)
        elif decision:
            referrals.decide(session, assistant, referral, decision, site_name=site_name)
        count += 1
    return count
