from tests.web.test_booking import *  # noqa

def test_dbg(app, client, team, first_visit):
    user, patient, new_id = first_visit
    r = client.get(f"/agenda?jour={team.day}")
    print(r.status_code, seen(r)[:2000])
    print([(e.action, e.summary) for e in events(app, "patient.view")])
