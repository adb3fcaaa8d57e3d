"""Provinces, health regions and how far one hospital is from another.

Thailand's 77 provinces by their two-digit code (the code the MOPH and the Ministry
of Interior use, also the first two digits of every MOPH-registered address), each
in one of the MOPH's 13 health regions (เขตสุขภาพ): regions 1-12 and Bangkok as
region 13. Reference data that changes by act of parliament, so it lives in code.

Distances are estimates from coordinates, never from a map service: the
great-circle distance times a road factor, and a travel time at an average speed.
``docs/regions.md`` says where the numbers come from and how wrong they can be.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import asin, cos, radians, sin, sqrt

from scheduling.i18n import N_
from scheduling.models import Hospital, Priority, ReferralScope


@dataclass(frozen=True)
class Province:
    code: str
    name_th: str
    name_en: str
    region: int


# code, Thai, English, health region
_PROVINCES = [
    ("10", "กรุงเทพมหานคร", "Bangkok", 13),
    ("11", "สมุทรปราการ", "Samut Prakan", 6),
    ("12", "นนทบุรี", "Nonthaburi", 4),
    ("13", "ปทุมธานี", "Pathum Thani", 4),
    ("14", "พระนครศรีอยุธยา", "Phra Nakhon Si Ayutthaya", 4),
    ("15", "อ่างทอง", "Ang Thong", 4),
    ("16", "ลพบุรี", "Lop Buri", 4),
    ("17", "สิงห์บุรี", "Sing Buri", 4),
    ("18", "ชัยนาท", "Chai Nat", 3),
    ("19", "สระบุรี", "Saraburi", 4),
    ("20", "ชลบุรี", "Chon Buri", 6),
    ("21", "ระยอง", "Rayong", 6),
    ("22", "จันทบุรี", "Chanthaburi", 6),
    ("23", "ตราด", "Trat", 6),
    ("24", "ฉะเชิงเทรา", "Chachoengsao", 6),
    ("25", "ปราจีนบุรี", "Prachin Buri", 6),
    ("26", "นครนายก", "Nakhon Nayok", 4),
    ("27", "สระแก้ว", "Sa Kaeo", 6),
    ("30", "นครราชสีมา", "Nakhon Ratchasima", 9),
    ("31", "บุรีรัมย์", "Buri Ram", 9),
    ("32", "สุรินทร์", "Surin", 9),
    ("33", "ศรีสะเกษ", "Si Sa Ket", 10),
    ("34", "อุบลราชธานี", "Ubon Ratchathani", 10),
    ("35", "ยโสธร", "Yasothon", 10),
    ("36", "ชัยภูมิ", "Chaiyaphum", 9),
    ("37", "อำนาจเจริญ", "Amnat Charoen", 10),
    ("38", "บึงกาฬ", "Bueng Kan", 8),
    ("39", "หนองบัวลำภู", "Nong Bua Lam Phu", 8),
    ("40", "ขอนแก่น", "Khon Kaen", 7),
    ("41", "อุดรธานี", "Udon Thani", 8),
    ("42", "เลย", "Loei", 8),
    ("43", "หนองคาย", "Nong Khai", 8),
    ("44", "มหาสารคาม", "Maha Sarakham", 7),
    ("45", "ร้อยเอ็ด", "Roi Et", 7),
    ("46", "กาฬสินธุ์", "Kalasin", 7),
    ("47", "สกลนคร", "Sakon Nakhon", 8),
    ("48", "นครพนม", "Nakhon Phanom", 8),
    ("49", "มุกดาหาร", "Mukdahan", 10),
    ("50", "เชียงใหม่", "Chiang Mai", 1),
    ("51", "ลำพูน", "Lamphun", 1),
    ("52", "ลำปาง", "Lampang", 1),
    ("53", "อุตรดิตถ์", "Uttaradit", 2),
    ("54", "แพร่", "Phrae", 1),
    ("55", "น่าน", "Nan", 1),
    ("56", "พะเยา", "Phayao", 1),
    ("57", "เชียงราย", "Chiang Rai", 1),
    ("58", "แม่ฮ่องสอน", "Mae Hong Son", 1),
    ("60", "นครสวรรค์", "Nakhon Sawan", 3),
    ("61", "อุทัยธานี", "Uthai Thani", 3),
    ("62", "กำแพงเพชร", "Kamphaeng Phet", 3),
    ("63", "ตาก", "Tak", 2),
    ("64", "สุโขทัย", "Sukhothai", 2),
    ("65", "พิษณุโลก", "Phitsanulok", 2),
    ("66", "พิจิตร", "Phichit", 3),
    ("67", "เพชรบูรณ์", "Phetchabun", 2),
    ("70", "ราชบุรี", "Ratchaburi", 5),
    ("71", "กาญจนบุรี", "Kanchanaburi", 5),
    ("72", "สุพรรณบุรี", "Suphan Buri", 5),
    ("73", "นครปฐม", "Nakhon Pathom", 5),
    ("74", "สมุทรสาคร", "Samut Sakhon", 5),
    ("75", "สมุทรสงคราม", "Samut Songkhram", 5),
    ("76", "เพชรบุรี", "Phetchaburi", 5),
    ("77", "ประจวบคีรีขันธ์", "Prachuap Khiri Khan", 5),
    ("80", "นครศรีธรรมราช", "Nakhon Si Thammarat", 11),
    ("81", "กระบี่", "Krabi", 11),
    ("82", "พังงา", "Phangnga", 11),
    ("83", "ภูเก็ต", "Phuket", 11),
    ("84", "สุราษฎร์ธานี", "Surat Thani", 11),
    ("85", "ระนอง", "Ranong", 11),
    ("86", "ชุมพร", "Chumphon", 11),
    ("90", "สงขลา", "Songkhla", 12),
    ("91", "สตูล", "Satun", 12),
    ("92", "ตรัง", "Trang", 12),
    ("93", "พัทลุง", "Phatthalung", 12),
    ("94", "ปัตตานี", "Pattani", 12),
    ("95", "ยะลา", "Yala", 12),
    ("96", "นราธิวาส", "Narathiwat", 12),
]
PROVINCES: dict[str, Province] = {row[0]: Province(*row) for row in _PROVINCES}

REGIONS = range(1, 14)
BANGKOK_REGION = 13


def region_name(region: int, locale: str = "th") -> str:
    """เขตสุขภาพที่ 7 / Health Region 7; region 13 is Bangkok's."""
    if region == BANGKOK_REGION:
        return "เขตสุขภาพที่ 13 (กรุงเทพมหานคร)" if locale != "en" else "Health Region 13 (Bangkok)"
    return f"เขตสุขภาพที่ {region}" if locale != "en" else f"Health Region {region}"


def provinces_of(region: int) -> list[Province]:
    return [p for p in PROVINCES.values() if p.region == region]


def province_by_name(name: str) -> Province | None:
    """The province named ``name`` in Thai or English (as older rows hold it)."""
    wanted = name.strip().casefold()
    for province in PROVINCES.values():
        if wanted in (province.name_th.casefold(), province.name_en.casefold()):
            return province
    return None


def region_of(hospital: Hospital) -> int | None:
    province = PROVINCES.get(hospital.province_code or "")
    return province.region if province else None


def set_province(hospital: Hospital, code: str) -> None:
    """The one way a hospital's province is set: code and the names shown with it."""
    province = PROVINCES[code]
    hospital.province_code = province.code
    hospital.province_th = province.name_th
    hospital.province_en = province.name_en


# -- the hub's rule for referrals from outside its region ---------------------------

URGENT = frozenset({Priority.URGENT, Priority.STAT})

REFERRAL_REFUSED = N_(
    "This hub takes referrals from outside its health region only as its own rule allows; "
    "choose a hub in your region."
)


def accepts_referral(hub: Hospital, requester: Hospital | None, priority: Priority) -> bool:
    """Whether ``hub`` takes a request of this priority from ``requester``.

    A hospital whose region is unknown (no province yet) is not held to be outside.
    """
    if hub.referral_scope is ReferralScope.ANY or requester is None or requester.id == hub.id:
        return True
    hub_region, own_region = region_of(hub), region_of(requester)
    if hub_region is None or own_region is None or hub_region == own_region:
        return True
    return hub.referral_scope is ReferralScope.REGION_AND_URGENT and priority in URGENT


# -- distance ---------------------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0
# Road distance over great-circle distance (the "detour index"). On eleven pairs of the
# demo networks' hospitals against approximate highway distances (docs/regions.md):
# 1.0-1.7, median 1.28; so one estimate can be 30 % out, most are within 20 %.
ROAD_FACTOR = 1.3
# Door-to-door average on provincial highways, including town traffic at both ends.
AVERAGE_SPEED_KMH = 60.0


@dataclass(frozen=True)
class Distance:
    km: float  # estimated road distance
    minutes: int  # estimated travel time by car


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a sphere of the Earth's mean radius."""
    p1, p2 = radians(lat1), radians(lat2)
    dp, dl = p2 - p1, radians(lon2 - lon1)
    h = sin(dp / 2) ** 2 + cos(p1) * cos(p2) * sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(h)))


def has_coordinates(hospital: Hospital) -> bool:
    return hospital.latitude is not None and hospital.longitude is not None


def road_distance(origin: Hospital, destination: Hospital) -> Distance | None:
    """Estimated road distance and driving time; None when either has no coordinates."""
    if not (has_coordinates(origin) and has_coordinates(destination)):
        return None
    if origin.id is not None and origin.id == destination.id:
        return Distance(0.0, 0)
    km = great_circle_km(
        origin.latitude, origin.longitude, destination.latitude, destination.longitude
    )
    road_km = km * ROAD_FACTOR
    return Distance(round(road_km, 1), round(road_km / AVERAGE_SPEED_KMH * 60))


def valid_coordinates(latitude: float | None, longitude: float | None) -> bool:
    """Both or neither, and on the globe."""
    if latitude is None and longitude is None:
        return True
    if latitude is None or longitude is None:
        return False
    return -90 <= latitude <= 90 and -180 <= longitude <= 180
