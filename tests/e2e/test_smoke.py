"""The browser fixtures themselves: a live server, real CSRF, Thai pages, nothing external."""

from sqlalchemy import select

from scheduling.models import AuditEvent
from tests.e2e.conftest import fresh, login_as


def test_login_through_the_real_form_lands_on_the_thai_request_list(page, live_server, demo):
    login_as(page, live_server, "staff.kudrang")
    assert page.locator("html").get_attribute("lang") == "th"
    assert "โรงพยาบาลกุดรัง" in page.locator("body").inner_text()
    assert page.context.external_requests == []
    fresh(demo)
    actions = demo.session.scalars(select(AuditEvent.action)).all()
    assert "auth.login" in actions


def test_a_post_without_the_csrf_token_is_refused(page, live_server, demo):
    response = page.request.post(
        live_server("/login"), form={"username": "staff.kudrang", "password": "radbook-demo"}
    )
    assert response.status == 400
    fresh(demo)
    assert "auth.login" not in demo.session.scalars(select(AuditEvent.action)).all()


def test_phone_viewport(phone_page, live_server, demo, save_screenshot):
    login_as(phone_page, live_server, "staff.kosum")
    assert phone_page.viewport_size == {"width": 360, "height": 740}
    # Nothing wider than the screen: no horizontal scrolling on a phone.
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    assert save_screenshot(phone_page, "smoke-phone-requests").stat().st_size > 0
