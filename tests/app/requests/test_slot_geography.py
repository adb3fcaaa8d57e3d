"""The requester's slot page: each cross-hub slot with its hub's province and the road
estimate, and the orders the requester can choose."""

from __future__ import annotations

import re

from tests.app.requests.conftest import make_request

SUGGESTION = re.compile(
    r'<a class="slot[^"]*" href="[^"]*">\s*<span class="when">[^<]*</span>\s*'
    r'<span class="where">([^<]*) · จังหวัด ([^<]*)</span>\s*'
    r'<span class="distance">ประมาณ ([\d,]+) กม. ขับรถ (\d+:\d\d) ชม.</span>'
)


def _suggestions(client, req, query: str = "") -> list[tuple[str, str, int]]:
    response = client.get(f"/requests/{req.id}/slots{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    earliest = html.split('id="earliest-title"')[1].split('id="calendar-title"')[0]
    found = [(hub, province, int(km.replace(",", ""))) for hub, province, km, _ in
             SUGGESTION.findall(earliest)]  # fmt: skip
    assert len(found) == earliest.count('<a class="slot')  # every slot shows both
    return found


def test_every_cross_hub_slot_shows_province_and_distance(kudrang_client, demo):
    req = make_request(demo, code="CT-BRAIN")
    demo.session.commit()
    default = _suggestions(kudrang_client, req)
    assert len(default) == 6 + 2  # the region's six earliest, then two outside it
    provinces = [province for _, province, _ in default]
    region7 = {"มหาสารคาม", "ขอนแก่น", "ร้อยเอ็ด", "กาฬสินธุ์"}
    # Region first: Region 7 before anything else, and something outside listed after.
    assert provinces[0] in region7 and provinces[-1] not in region7
    nearest = _suggestions(kudrang_client, req, "?order=nearest")
    assert nearest[0][0] == "โรงพยาบาลมหาสารคาม"
    assert [km for *_, km in nearest] == sorted(km for *_, km in nearest)
    within = _suggestions(kudrang_client, req, "?order=within&km=100")
    assert within and all(km <= 100 for *_, km in within)
    assert all(province in region7 for _, province, _ in within)


def test_odd_order_or_radius_falls_back_to_the_default(kudrang_client, demo):
    req = make_request(demo, code="CT-BRAIN")
    demo.session.commit()
    default = _suggestions(kudrang_client, req)
    assert _suggestions(kudrang_client, req, "?order=sideways&km=7") == default
    assert _suggestions(kudrang_client, req, "?order=within&km=-5") == _suggestions(
        kudrang_client, req, "?order=within&km=100"
    )


def test_the_confirm_page_says_where_the_hub_is(kudrang_client, demo):
    req = make_request(demo, code="CT-BRAIN")
    demo.session.commit()
    html = kudrang_client.get(f"/requests/{req.id}/slots?order=nearest").get_data(as_text=True)
    link = re.search(r'<a class="slot earliest" href="([^"]+)"', html).group(1)
    confirm = kudrang_client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert re.search(r"<dd>มหาสารคาม · ประมาณ \d+ กม. ขับรถ \d+:\d\d ชม.</dd>", confirm)
