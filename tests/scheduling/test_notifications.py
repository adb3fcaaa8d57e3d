"""Staff notifications: per hospital, read per user, never across hospitals."""

from datetime import timedelta

from scheduling import notifications
from scheduling.i18n import N_
from scheduling.models import Role
from tests.scheduling.factories import SYSTEM, create_hospital, create_user


def test_notifications_are_per_hospital_and_read_per_user(db, now):
    mine, other = create_hospital(), create_hospital()
    alice = create_user(hospital=mine, role=Role.REQUESTER)
    bob = create_user(hospital=mine, role=Role.REQUESTER)
    eve = create_user(hospital=other, role=Role.REQUESTER)
    first = notifications.notify_hospital(
        mine.id,
        "appointment.moved",
        now,
        message=N_("The hub moved the appointment of %(order)s to %(when)s."),
        params={"order": "RB1", "when": "1 ม.ค. 2570"},
        reason="เครื่องเสีย",
        actor=SYSTEM,
    )
    notifications.notify_hospital(
        mine.id, "request.rejected", now + timedelta(minutes=1), message=N_("Request rejected")
    )
    secret = notifications.notify_hospital(
        other.id, "request.rejected", now, message=N_("Request rejected")
    )
    db.session.commit()

    assert notifications.unread_count(alice) == 2
    assert notifications.unread_count(eve) == 1
    listed = notifications.for_user(alice)
    assert [row.kind for row, _ in listed] == ["request.rejected", "appointment.moved"]
    assert all(unread for _, unread in listed)
    assert "RB1" in notifications.text_of(first, "en")

    # Another hospital's id is not Alice's to mark; her own is.
    assert notifications.mark_read(alice, now, [secret.id]) == 0
    assert notifications.mark_read(alice, now, [first.id]) == 1
    db.session.commit()
    assert notifications.unread_count(alice) == 1
    assert notifications.unread_count(bob) == 2
    assert notifications.unread_count(eve) == 1
    assert notifications.mark_read(alice, now) == 1
    db.session.commit()
    assert notifications.unread_count(alice) == 0
    assert [unread for _, unread in notifications.for_user(alice)] == [False, False]


def test_the_count_loaded_with_the_user_serves_until_this_session_writes_notifications(db, now):
    from sqlalchemy import select

    from scheduling.models import User

    mine = create_hospital()
    alice = create_user(hospital=mine, role=Role.REQUESTER)
    other = create_user(hospital=create_hospital(), role=Role.REQUESTER)
    first = notifications.notify_hospital(mine.id, "x", now, message=N_("Request rejected"))
    db.session.commit()
    alice_id, other_id, first_id, mine_id = alice.id, other.id, first.id, mine.id
    db.session.remove()  # a new request: a new session

    loaded = dict(
        db.session.execute(
            select(User.id, notifications.unread_count_column()).where(
                User.id.in_([alice_id, other_id])
            )
        ).all()
    )
    assert loaded == {alice_id: 1, other_id: 0}
    alice = db.session.get(User, alice_id)
    notifications.remember_unread(alice, 7)
    assert notifications.unread_count(alice) == 7  # what was loaded, no query of its own
    # Once this session writes notifications or reads, the loaded count is stale: count.
    notifications.notify_hospital(mine_id, "y", now, message=N_("Request rejected"))
    db.session.flush()
    assert notifications.unread_count(alice) == 2
    db.session.commit()
    db.session.remove()
    alice = db.session.get(User, alice_id)
    notifications.remember_unread(alice, 2)
    notifications.mark_read(alice, now, [first_id])
    db.session.flush()
    assert notifications.unread_count(alice) == 1
