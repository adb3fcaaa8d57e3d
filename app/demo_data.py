"""The demo network, from the programmes in shared/CONTEXT.md.

MOPH codes here are demo values in the right form (5 digits); check them against
the MOPH health-facility registry before loading real hospitals.
"""

from __future__ import annotations

from scheduling.models import DicomCharset, HospitalLevel, ReferralScope

MKH_CODE = "10707"

# code, Thai name, English name, level, province (th, en), hub?
HUB_MKH = (
    MKH_CODE,
    "โรงพยาบาลมหาสารคาม",
    "Mahasarakham Hospital",
    HospitalLevel.GENERAL,
    ("มหาสารคาม", "Maha Sarakham"),
)

# Maha Sarakham community hospitals (PACS Online requesters), with their PACS vendor then.
MAHASARAKHAM_REQUESTERS = [
    ("11001", "โรงพยาบาลเชียงยืน", "Chiang Yuen Hospital", "Cloud Medical"),
    ("11002", "โรงพยาบาลบรบือ", "Borabue Hospital", "Cloud Medical"),
    ("11003", "โรงพยาบาลวาปีปทุม", "Wapi Pathum Hospital", "Cloud Medical"),
    ("11004", "โรงพยาบาลนาดูน", "Na Dun Hospital", "Cloud Medical"),
    ("11005", "โรงพยาบาลโกสุมพิสัย", "Kosum Phisai Hospital", "Atom"),
    ("11006", "โรงพยาบาลแกดำ", "Kae Dam Hospital", "Atom"),
    ("11007", "โรงพยาบาลกันทรวิชัย", "Kantharawichai Hospital", "Infinitt"),
    ("11008", "โรงพยาบาลกุดรัง", "Kut Rang Hospital", "Infinitt"),
    ("11009", "โรงพยาบาลนาเชือก", "Na Chueak Hospital", "Infinitt"),
    ("11010", "โรงพยาบาลยางสีสุราช", "Yang Sisurat Hospital", "Infinitt"),
    ("11011", "โรงพยาบาลพยัคฆภูมิพิสัย", "Phayakkhaphum Phisai Hospital", "Infinitt"),
    ("11012", "โรงพยาบาลชื่นชม", "Chuen Chom Hospital", None),
    ("11013", "โรงพยาบาลสุทธาเวช", "Suddhavej Hospital", "Infinitt"),
]
KUDRANG_CODE = "11008"
KOSUM_CODE = "11005"

# Region 7's other hubs: the general and regional hospitals of the other three
# provinces, and Srinagarind (Khon Kaen University's hospital, outside the MOPH line)
# as the destination for referrals beyond them. Scanners are demo values.
# code, ae prefix, Thai, English, level, province (th, en), referral rule,
# [(modality, count, name)]
REGION7_HUBS = [
    ("10670", "KKH", "โรงพยาบาลขอนแก่น", "Khon Kaen Hospital", HospitalLevel.REGIONAL,
     ("ขอนแก่น", "Khon Kaen"), ReferralScope.REGION_AND_URGENT,
     [("CT", 2, "CT 128-slice"), ("MR", 1, "MRI 1.5 T"), ("US", 2, "Ultrasound"), ("MG", 1, "Mammography")]),
    ("10708", "RET", "โรงพยาบาลร้อยเอ็ด", "Roi Et Hospital", HospitalLevel.REGIONAL,
     ("ร้อยเอ็ด", "Roi Et"), ReferralScope.REGION_AND_URGENT,
     [("CT", 1, "CT 128-slice"), ("MR", 1, "MRI 1.5 T"), ("US", 1, "Ultrasound")]),
    ("10706", "KSN", "โรงพยาบาลกาฬสินธุ์", "Kalasin Hospital", HospitalLevel.GENERAL,
     ("กาฬสินธุ์", "Kalasin"), ReferralScope.REGION_AND_URGENT,
     [("CT", 1, "CT 64-slice"), ("US", 1, "Ultrasound")]),
    ("13777", "SNH", "โรงพยาบาลศรีนครินทร์ คณะแพทยศาสตร์ มหาวิทยาลัยขอนแก่น",
     "Srinagarind Hospital, Khon Kaen University", HospitalLevel.UNIVERSITY,
     ("ขอนแก่น", "Khon Kaen"), ReferralScope.ANY,
     [("CT", 2, "CT 256-slice"), ("MR", 2, "MRI 3 T")]),
]  # fmt: skip
KHON_KAEN_CODE = "10670"
SRINAGARIND_CODE = "13777"

# Where each demo hospital is: district (th, en), latitude, longitude (WGS84, the
# hospital's site to about 1 km; demo values to be checked against the MOPH registry).
PLACES = {
    "10707": ("เมืองมหาสารคาม", "Mueang Maha Sarakham", 16.1847, 103.3010),
    "11001": ("เชียงยืน", "Chiang Yuen", 16.4166, 103.1009),
    "11002": ("บรบือ", "Borabue", 16.0430, 103.1170),
    "11003": ("วาปีปทุม", "Wapi Pathum", 15.8508, 103.3772),
    "11004": ("นาดูน", "Na Dun", 15.7163, 103.2312),
    "11005": ("โกสุมพิสัย", "Kosum Phisai", 16.2461, 103.0672),
    "11006": ("แกดำ", "Kae Dam", 16.0231, 103.3846),
    "11007": ("กันทรวิชัย", "Kantharawichai", 16.3064, 103.2443),
    "11008": ("กุดรัง", "Kut Rang", 16.0466, 102.9656),
    "11009": ("นาเชือก", "Na Chueak", 15.8003, 103.0321),
    "11010": ("ยางสีสุราช", "Yang Sisurat", 15.6919, 103.0982),
    "11011": ("พยัคฆภูมิพิสัย", "Phayakkhaphum Phisai", 15.5187, 103.1957),
    "11012": ("ชื่นชม", "Chuen Chom", 16.5402, 103.1597),
    "11013": ("เมืองมหาสารคาม", "Mueang Maha Sarakham", 16.1951, 103.2856),
    "10670": ("เมืองขอนแก่น", "Mueang Khon Kaen", 16.4294, 102.8369),
    "13777": ("เมืองขอนแก่น", "Mueang Khon Kaen", 16.4661, 102.8297),
    "10708": ("เมืองร้อยเอ็ด", "Mueang Roi Et", 16.0541, 103.6522),
    "10706": ("เมืองกาฬสินธุ์", "Mueang Kalasin", 16.4321, 103.5063),
    "10671": ("เมืองอุดรธานี", "Mueang Udon Thani", 17.4137, 102.7872),
    "11091": ("กุมภวาปี", "Kumphawapi", 17.1140, 103.0195),
    "11092": ("หนองหาน", "Nong Han", 17.3636, 103.1036),
    "11093": ("บ้านดุง", "Ban Dung", 17.6970, 103.2613),
    "11094": ("บ้านผือ", "Ban Phue", 17.6862, 102.4753),
    "11095": ("เพ็ญ", "Phen", 17.6781, 102.9169),
    "10709": ("เมืองสกลนคร", "Mueang Sakon Nakhon", 17.1579, 104.1453),
    "11096": ("สว่างแดนดิน", "Sawang Daen Din", 17.4746, 103.4556),
    "11097": ("วานรนิวาส", "Wanon Niwat", 17.6375, 103.7522),
    "11098": ("พรรณานิคม", "Phanna Nikhom", 17.3455, 103.8436),
    "10710": ("เมืองนครพนม", "Mueang Nakhon Phanom", 17.4062, 104.7797),
    "11099": ("ธาตุพนม", "That Phanom", 16.9430, 104.7107),
    "11100": ("ศรีสงคราม", "Si Songkhram", 17.6259, 104.2436),
    "11101": ("พังโคน", "Phang Khon", 17.3829, 103.7095),
    "10672": ("เมืองหนองคาย", "Mueang Nong Khai", 17.8700, 102.7470),
    "11102": ("ท่าบ่อ", "Tha Bo", 17.8482, 102.5858),
    "11103": ("โพนพิสัย", "Phon Phisai", 18.0224, 103.0771),
    "10674": ("เมืองเลย", "Mueang Loei", 17.4856, 101.7265),
    "11104": ("วังสะพุง", "Wang Saphung", 17.3007, 101.7655),
    "10673": ("เมืองหนองบัวลำภู", "Mueang Nong Bua Lam Phu", 17.2045, 102.4391),
    "27972": ("เมืองบึงกาฬ", "Mueang Bueng Kan", 18.3607, 103.6506),
    "11105": ("เซกา", "Seka", 17.9283, 103.9498),
    "11106": ("โซ่พิสัย", "So Phisai", 18.0717, 103.4556),
}

# Region 8's hubs: the regional and general hospitals take referrals from outside the
# region when urgent; its community hospitals serve their region only. Udon Thani, the
# largest, takes them from anywhere (it is where Region 7's north looks first).
REGION8_REFERRAL_SCOPE = {
    HospitalLevel.REGIONAL: ReferralScope.REGION_AND_URGENT,
    HospitalLevel.GENERAL: ReferralScope.REGION_AND_URGENT,
    HospitalLevel.COMMUNITY: ReferralScope.REGION_ONLY,
}
UDON_THANI_CODE = "10671"
REGION8_OPEN_HUBS = {UDON_THANI_CODE: ReferralScope.ANY}

# Mahasarakham Hospital's scanners: AE titles fixed by DESIGN.md.
# ae_title, modality, name, room (th, en), charset
MKH_DEVICES = [
    ("MKH_US1", "US", "Ultrasound 1", ("ห้องอัลตราซาวด์ 1 อาคารรังสีวิทยา ชั้น 1", "Ultrasound room 1, Radiology building, 1st floor"), DicomCharset.UTF8),
    ("MKH_US2", "US", "Ultrasound 2", ("ห้องอัลตราซาวด์ 2 อาคารรังสีวิทยา ชั้น 1", "Ultrasound room 2, Radiology building, 1st floor"), DicomCharset.TIS620),
    ("MKH_CT1", "CT", "CT 128-slice", ("ห้อง CT อาคารรังสีวิทยา ชั้น 1", "CT room, Radiology building, 1st floor"), DicomCharset.UTF8),
    ("MKH_MR1", "MR", "MRI 1.5 T", ("ห้อง MRI อาคารรังสีวิทยา ชั้น 1", "MRI room, Radiology building, 1st floor"), DicomCharset.ASCII),
    ("MKH_DX1", "DX", "Digital X-ray 1", ("ห้องเอกซเรย์ 1 อาคารผู้ป่วยนอก", "X-ray room 1, Outpatient building"), DicomCharset.UTF8),
    ("MKH_MG1", "MG", "Mammography", ("ห้องเอกซเรย์เต้านม อาคารรังสีวิทยา ชั้น 2", "Mammography room, Radiology building, 2nd floor"), DicomCharset.UTF8),
    ("MKH_BMD1", "BMD", "Bone densitometry", ("ห้องวัดความหนาแน่นกระดูก อาคารรังสีวิทยา ชั้น 2", "Bone densitometry room, Radiology building, 2nd floor"), DicomCharset.ASCII),
]  # fmt: skip

# Region 8 Imaging Hub: CT and MRI capacity (CONTEXT.md, 2024).
# code, ae prefix, Thai, English, level, province (th, en), CT scanners, CT desc,
# CT exams/month, MRI exams/month (None = no MRI; 0 = installed, not yet open)
REGION8_HUBS = [
    ("10671", "UDN", "โรงพยาบาลอุดรธานี", "Udon Thani Hospital", HospitalLevel.REGIONAL, ("อุดรธานี", "Udon Thani"), 2, "128-slice", 2635, 450),
    ("11091", "KPW", "โรงพยาบาลกุมภวาปี", "Kumphawapi Hospital", HospitalLevel.COMMUNITY, ("อุดรธานี", "Udon Thani"), 1, "32-slice", 450, None),
    ("11092", "NHN", "โรงพยาบาลหนองหาน", "Nong Han Hospital", HospitalLevel.COMMUNITY, ("อุดรธานี", "Udon Thani"), 1, "32-slice", 258, None),
    ("11093", "BDG", "โรงพยาบาลสมเด็จพระยุพราชบ้านดุง", "Crown Prince Hospital Ban Dung", HospitalLevel.COMMUNITY, ("อุดรธานี", "Udon Thani"), 1, "32-slice", 250, None),
    ("11094", "BPU", "โรงพยาบาลบ้านผือ", "Ban Phue Hospital", HospitalLevel.COMMUNITY, ("อุดรธานี", "Udon Thani"), 1, "64-slice", 350, None),
    ("11095", "PEN", "โรงพยาบาลเพ็ญ", "Phen Hospital", HospitalLevel.COMMUNITY, ("อุดรธานี", "Udon Thani"), 1, "16-slice", 130, None),
    ("10709", "SKN", "โรงพยาบาลสกลนคร", "Sakon Nakhon Hospital", HospitalLevel.REGIONAL, ("สกลนคร", "Sakon Nakhon"), 2, "128-slice", 2890, 445),
    ("11096", "SWD", "โรงพยาบาลสมเด็จพระยุพราชสว่างแดนดิน", "Crown Prince Hospital Sawang Daen Din", HospitalLevel.COMMUNITY, ("สกลนคร", "Sakon Nakhon"), 1, "16-slice", 580, None),
    ("11097", "WNW", "โรงพยาบาลวานรนิวาส", "Wanon Niwat Hospital", HospitalLevel.COMMUNITY, ("สกลนคร", "Sakon Nakhon"), 1, "64-slice", 512, None),
    ("11098", "PAM", "โรงพยาบาลพระอาจารย์มั่น ภูริทัตโต", "Phra Ajarn Mun Bhuridatto Hospital", HospitalLevel.COMMUNITY, ("สกลนคร", "Sakon Nakhon"), 1, "16-slice", 150, None),
    ("10710", "NKP", "โรงพยาบาลนครพนม", "Nakhon Phanom Hospital", HospitalLevel.GENERAL, ("นครพนม", "Nakhon Phanom"), 1, "160-slice", 1315, 240),
    ("11099", "TPN", "โรงพยาบาลสมเด็จพระยุพราชธาตุพนม", "Crown Prince Hospital That Phanom", HospitalLevel.COMMUNITY, ("นครพนม", "Nakhon Phanom"), 1, "64-slice", 270, None),
    ("11100", "SSK", "โรงพยาบาลศรีสงคราม", "Si Songkhram Hospital", HospitalLevel.COMMUNITY, ("นครพนม", "Nakhon Phanom"), 1, "16-slice", 140, None),
    ("11101", "PKN", "โรงพยาบาลพังโคน", "Phang Khon Hospital", HospitalLevel.COMMUNITY, ("สกลนคร", "Sakon Nakhon"), 1, "16-slice", 150, None),
    ("10672", "NKI", "โรงพยาบาลหนองคาย", "Nong Khai Hospital", HospitalLevel.GENERAL, ("หนองคาย", "Nong Khai"), 1, "128-slice", 1248, 213),
    ("11102", "TBO", "โรงพยาบาลสมเด็จพระยุพราชท่าบ่อ", "Crown Prince Hospital Tha Bo", HospitalLevel.COMMUNITY, ("หนองคาย", "Nong Khai"), 1, "64-slice", 371, None),
    ("11103", "PPS", "โรงพยาบาลโพนพิสัย", "Phon Phisai Hospital", HospitalLevel.COMMUNITY, ("หนองคาย", "Nong Khai"), 1, "64-slice", 250, None),
    ("10674", "LOE", "โรงพยาบาลเลย", "Loei Hospital", HospitalLevel.GENERAL, ("เลย", "Loei"), 1, "128-slice", 2200, 150),
    ("11104", "WSP", "โรงพยาบาลวังสะพุง", "Wang Saphung Hospital", HospitalLevel.COMMUNITY, ("เลย", "Loei"), 1, "32-slice", 180, None),
    ("10673", "NBL", "โรงพยาบาลหนองบัวลำภู", "Nong Bua Lam Phu Hospital", HospitalLevel.GENERAL, ("หนองบัวลำภู", "Nong Bua Lam Phu"), 1, "128-slice", 2100, 200),
    ("27972", "BKN", "โรงพยาบาลบึงกาฬ", "Bueng Kan Hospital", HospitalLevel.GENERAL, ("บึงกาฬ", "Bueng Kan"), 1, "128-slice", 860, 0),
    ("11105", "SKA", "โรงพยาบาลเซกา", "Seka Hospital", HospitalLevel.COMMUNITY, ("บึงกาฬ", "Bueng Kan"), 1, "16-slice", 259, None),
    ("11106", "SOP", "โรงพยาบาลโซ่พิสัย", "So Phisai Hospital", HospitalLevel.COMMUNITY, ("บึงกาฬ", "Bueng Kan"), 1, "16-slice", 141, None),
]  # fmt: skip

MODALITIES = [
    ("US", "อัลตราซาวด์", "Ultrasound"),
    ("CT", "เอกซเรย์คอมพิวเตอร์ (CT)", "Computed tomography"),
    ("MR", "คลื่นแม่เหล็กไฟฟ้า (MRI)", "Magnetic resonance"),
    ("CR", "เอกซเรย์ (CR)", "Computed radiography"),
    ("DX", "เอกซเรย์ดิจิทัล", "Digital radiography"),
    ("MG", "เอกซเรย์เต้านม (แมมโมแกรม)", "Mammography"),
    ("BMD", "วัดความหนาแน่นกระดูก", "Bone densitometry"),
    ("NM", "เวชศาสตร์นิวเคลียร์", "Nuclear medicine"),
    ("XA", "เอกซเรย์หลอดเลือด", "Angiography"),
    ("RF", "เอกซเรย์ฟลูออโรสโคปี", "Fluoroscopy"),
]

_FAST_TH = "งดน้ำและอาหารทุกชนิด 6–8 ชั่วโมงก่อนตรวจ (จิบน้ำเปล่าเพื่อกินยาประจำได้)"
_FAST_EN = "Nothing to eat or drink for 6–8 hours before the exam (sips of water for regular medicines are fine)."
_BLADDER_TH = "ดื่มน้ำเปล่า 4–6 แก้ว (ประมาณ 1 ลิตร) 1 ชั่วโมงก่อนตรวจ และกลั้นปัสสาวะไว้จนตรวจเสร็จ"
_BLADDER_EN = "Drink 4–6 glasses (about 1 litre) of water 1 hour before the exam and do not empty your bladder until it is done."
_CONTRAST_TH = (
    "ต้องมีผลตรวจการทำงานของไต (Creatinine/eGFR) ไม่เกิน 3 เดือน งดอาหาร 4–6 ชั่วโมงก่อนตรวจ "
    "แจ้งเจ้าหน้าที่หากเคยแพ้สารทึบรังสี แพ้อาหารทะเล เป็นโรคหอบหืด หรือกินยาเบาหวาน Metformin"
)
_CONTRAST_EN = (
    "Bring a kidney function result (creatinine/eGFR) from the last 3 months. Nothing to eat for 4–6 hours "
    "before. Tell staff about any contrast or seafood allergy, asthma, or metformin."
)
_MRI_TH = (
    "ถอดโลหะทุกชนิด เครื่องประดับ กิ๊บ นาฬิกา บัตรแถบแม่เหล็ก แจ้งเจ้าหน้าที่หากมีเครื่องกระตุ้นหัวใจ "
    "โลหะในร่างกาย หรือกลัวที่แคบ"
)
_MRI_EN = (
    "Remove all metal, jewellery, hair clips, watches and magnetic cards. Tell staff about a pacemaker, "
    "metal implants or fear of closed spaces."
)

# code, modality, Thai, English, minutes, prep th, prep en, contrast, prep tags
PROCEDURES = [
    ("US-UPABD", "US", "อัลตราซาวด์ช่องท้องส่วนบน", "Ultrasound upper abdomen", 20, _FAST_TH, _FAST_EN, False, "fasting"),
    ("US-WABD", "US", "อัลตราซาวด์ช่องท้องทั้งหมด", "Ultrasound whole abdomen", 30,
     _FAST_TH + " และ" + _BLADDER_TH, _FAST_EN + " " + _BLADDER_EN, False, "fasting,full_bladder"),
    ("US-KUB", "US", "อัลตราซาวด์ไต ท่อไต และกระเพาะปัสสาวะ (KUB)", "Ultrasound kidneys, ureters and bladder (KUB)", 20, _BLADDER_TH, _BLADDER_EN, False, "full_bladder"),
    ("US-PELV", "US", "อัลตราซาวด์อุ้งเชิงกราน", "Ultrasound pelvis", 20, _BLADDER_TH, _BLADDER_EN, False, "full_bladder"),
    ("US-OB", "US", "อัลตราซาวด์ทางสูติกรรม", "Obstetric ultrasound", 20,
     "ไตรมาสแรกให้ดื่มน้ำและกลั้นปัสสาวะ ไตรมาสที่ 2–3 ไม่ต้องเตรียมตัว นำสมุดฝากครรภ์มาด้วย",
     "First trimester: come with a full bladder. Second and third trimester: no preparation. Bring your antenatal record book.", False, ""),
    ("US-THY", "US", "อัลตราซาวด์ต่อมไทรอยด์", "Ultrasound thyroid", 15, "ไม่ต้องเตรียมตัว", "No preparation needed.", False, ""),
    ("US-BREAST", "US", "อัลตราซาวด์เต้านม", "Ultrasound breast", 20, "ไม่ต้องเตรียมตัว นำผลแมมโมแกรมเดิม (ถ้ามี) มาด้วย", "No preparation. Bring previous mammograms if you have them.", False, ""),
    ("US-DOPLE", "US", "อัลตราซาวด์ดอปเปลอร์หลอดเลือดขา", "Doppler ultrasound of leg vessels", 30, "ไม่ต้องเตรียมตัว สวมกางเกงหลวม ๆ", "No preparation. Wear loose trousers.", False, ""),
    ("CT-BRAIN", "CT", "CT สมอง (ไม่ฉีดสารทึบรังสี)", "CT brain without contrast", 15, "ถอดกิ๊บ ต่างหู และโลหะบริเวณศีรษะ", "Remove hair clips, earrings and metal around the head.", False, ""),
    ("CT-BRAIN-C", "CT", "CT สมอง (ฉีดสารทึบรังสี)", "CT brain with contrast", 20, _CONTRAST_TH, _CONTRAST_EN, True, "iodinated_contrast"),
    ("CT-CHEST-C", "CT", "CT ทรวงอก (ฉีดสารทึบรังสี)", "CT chest with contrast", 20, _CONTRAST_TH, _CONTRAST_EN, True, "iodinated_contrast"),
    ("CT-WABD-C", "CT", "CT ช่องท้องทั้งหมด (ฉีดสารทึบรังสี)", "CT whole abdomen with contrast", 30,
     _CONTRAST_TH + " ดื่มสารทึบรังสีตามที่เจ้าหน้าที่แนะนำ 1 ชั่วโมงก่อนตรวจ", _CONTRAST_EN + " Drink the oral contrast as instructed 1 hour before.", True, "iodinated_contrast,fasting"),
    ("CT-KUB", "CT", "CT ระบบทางเดินปัสสาวะ (ไม่ฉีดสารทึบรังสี)", "CT KUB without contrast", 15, "ดื่มน้ำ 2–3 แก้วก่อนตรวจ", "Drink 2–3 glasses of water before the exam.", False, ""),
    ("CT-CTA-BR", "CT", "CT หลอดเลือดสมอง (CTA)", "CT angiography brain", 30, _CONTRAST_TH, _CONTRAST_EN, True, "iodinated_contrast"),
    ("MR-BRAIN", "MR", "MRI สมอง", "MRI brain", 45, _MRI_TH, _MRI_EN, False, ""),
    ("MR-BRAIN-C", "MR", "MRI สมอง (ฉีดสารทึบรังสี)", "MRI brain with contrast", 60,
     _MRI_TH + " ต้องมีผลตรวจการทำงานของไตไม่เกิน 3 เดือน", _MRI_EN + " Bring a kidney function result from the last 3 months.", True, "gadolinium_contrast"),
    ("MR-LSP", "MR", "MRI กระดูกสันหลังส่วนเอว", "MRI lumbar spine", 45, _MRI_TH, _MRI_EN, False, ""),
    ("MR-KNEE", "MR", "MRI ข้อเข่า", "MRI knee", 40, _MRI_TH, _MRI_EN, False, ""),
    ("MR-MRCP", "MR", "MRI ท่อน้ำดีและตับอ่อน (MRCP)", "MRCP", 45, _MRI_TH + " " + _FAST_TH, _MRI_EN + " " + _FAST_EN, False, "fasting"),
    ("DX-CHEST", "DX", "เอกซเรย์ปอด (PA)", "Chest X-ray PA", 10, "ถอดสร้อยคอ เสื้อชั้นในที่มีโครงเหล็ก และโลหะบริเวณหน้าอก", "Remove necklaces, underwired bras and metal around the chest.", False, ""),
    ("DX-KUB", "DX", "เอกซเรย์ช่องท้อง (KUB)", "Abdominal X-ray (KUB)", 10, "ไม่ต้องเตรียมตัว", "No preparation needed.", False, ""),
    ("DX-LSP", "DX", "เอกซเรย์กระดูกสันหลังส่วนเอว", "Lumbar spine X-ray", 10, "ไม่ต้องเตรียมตัว", "No preparation needed.", False, ""),
    ("DX-KNEE", "DX", "เอกซเรย์ข้อเข่าทั้งสองข้าง (ท่ายืน)", "Standing X-ray of both knees", 10, "ไม่ต้องเตรียมตัว สวมกางเกงหลวม ๆ", "No preparation. Wear loose trousers.", False, ""),
    ("CR-CHEST", "CR", "เอกซเรย์ปอด (CR)", "Chest X-ray (CR)", 10, "ถอดสร้อยคอและโลหะบริเวณหน้าอก", "Remove necklaces and metal around the chest.", False, ""),
    ("MG-SCREEN", "MG", "แมมโมแกรมคัดกรอง", "Screening mammography", 20,
     "งดทาแป้ง โลชั่น และยาระงับกลิ่นกายบริเวณรักแร้และเต้านมในวันตรวจ ควรนัดหลังหมดประจำเดือน 7–10 วัน นำผลเดิมมาด้วย",
     "No deodorant, powder or lotion on the underarms or breasts on the day. Best 7–10 days after your period. Bring previous images.", False, ""),
    ("MG-DIAG", "MG", "แมมโมแกรมและอัลตราซาวด์เต้านม (วินิจฉัย)", "Diagnostic mammography with breast ultrasound", 30,
     "งดทาแป้ง โลชั่น และยาระงับกลิ่นกายบริเวณรักแร้และเต้านมในวันตรวจ นำผลเดิมมาด้วย",
     "No deodorant, powder or lotion on the underarms or breasts on the day. Bring previous images.", False, ""),
    ("BMD-HIPSP", "BMD", "ตรวจความหนาแน่นกระดูกสะโพกและกระดูกสันหลัง", "Bone densitometry hip and spine", 20,
     "งดยาหรือวิตามินเสริมแคลเซียม 24 ชั่วโมงก่อนตรวจ สวมเสื้อผ้าที่ไม่มีโลหะ ไม่ควรตรวจภายใน 7 วันหลังกลืนแป้งหรือฉีดสารทึบรังสี",
     "No calcium supplements for 24 hours before. Wear clothes without metal. Not within 7 days of a barium or contrast study.", False, "no_recent_contrast"),
    ("RF-BASW", "RF", "กลืนแป้งตรวจหลอดอาหาร", "Barium swallow", 30, _FAST_TH, _FAST_EN, True, "barium,fasting"),
]  # fmt: skip

# Demo users (password radbook-demo): username, full name, role, hospital code
DEMO_PASSWORD = "radbook-demo"
DEMO_HIS_TOKEN = "demo-his-token"

# Who each demo procedure is for, and why it is asked: sexes, youngest and oldest age
# (years), and indications a referring doctor would write for it (the body part of the
# procedure in every one). The demo picks patients and indications from this table;
# tests/app/test_demo_plausible.py checks the result by rules of its own.
F, M = "F", "M"
PROCEDURE_FIT = {
    "US-UPABD": ((F, M), 18, 90, ["ปวดท้องใต้ชายโครงขวา สงสัยนิ่วในถุงน้ำดี", "ค่าเอนไซม์ตับสูง ตรวจหาไขมันพอกตับ", "ตรวจคัดกรองมะเร็งตับในผู้ติดเชื้อไวรัสตับอักเสบบี"]),
    "US-WABD": ((F, M), 5, 90, ["ปวดท้องเรื้อรัง น้ำหนักลด", "คลำได้ก้อนในท้อง", "ตรวจติดตามก้อนที่ตับ", "ตรวจคัดกรองพยาธิใบไม้ตับและมะเร็งท่อน้ำดี (CASCAP)"]),
    "US-KUB": ((F, M), 1, 90, ["ปัสสาวะเป็นเลือด สงสัยนิ่วในไต", "ไตเสื่อมเรื้อรัง ตรวจขนาดไต", "ปวดบั้นเอว สงสัยนิ่วในท่อไต"]),
    "US-PELV": ((F,), 12, 80, ["ประจำเดือนมามากผิดปกติ สงสัยเนื้องอกมดลูก", "ปวดท้องน้อยเรื้อรัง สงสัยถุงน้ำรังไข่", "เลือดออกทางช่องคลอดหลังหมดประจำเดือน"]),
    "US-OB": ((F,), 16, 45, ["ฝากครรภ์ ตรวจอายุครรภ์", "ตั้งครรภ์ไตรมาสที่ 2 ตรวจความผิดปกติของทารก", "ครรภ์เสี่ยงสูง ตรวจการเจริญเติบโตของทารก"]),
    "US-THY": ((F, M), 15, 85, ["ก้อนที่คอ ตรวจต่อมไทรอยด์", "ต่อมไทรอยด์โต ตรวจหาก้อน"]),
    "US-BREAST": ((F,), 20, 80, ["คลำได้ก้อนที่เต้านมขวา", "เจ็บเต้านมซ้าย คลำได้ก้อน", "ตรวจติดตามถุงน้ำเต้านม"]),
    "US-DOPLE": ((F, M), 30, 90, ["ขาบวมข้างเดียว สงสัยหลอดเลือดดำที่ขาอุดตัน", "ปวดน่องเวลาเดิน สงสัยหลอดเลือดแดงที่ขาตีบ"]),
    "CT-BRAIN": ((F, M), 1, 95, ["ปวดศีรษะรุนแรงเฉียบพลัน", "ล้มศีรษะกระแทก ซึมลง", "แขนขาอ่อนแรงซีกซ้าย สงสัยโรคหลอดเลือดสมอง", "ชักครั้งแรกในผู้ใหญ่"]),
    "CT-BRAIN-C": ((F, M), 18, 85, ["สงสัยก้อนในสมอง ปวดศีรษะและอาเจียน", "ตรวจติดตามเนื้องอกสมองหลังผ่าตัด"]),
    "CT-CHEST-C": ((F, M), 30, 90, ["ก้อนในปอดจากภาพเอกซเรย์ทรวงอก", "ไอเป็นเลือด สงสัยมะเร็งปอด", "ตรวจติดตามก้อนในปอดหลังรักษา"]),
    "CT-WABD-C": ((F, M), 25, 90, ["ตรวจระยะมะเร็งท่อน้ำดีในช่องท้อง", "ก้อนที่ตับจากอัลตราซาวด์ ตรวจเพิ่มเติม", "ปวดท้องเรื้อรัง น้ำหนักลด สงสัยมะเร็งในช่องท้อง"]),
    "CT-KUB": ((F, M), 15, 85, ["ปวดบั้นเอวร้าวลงขาหนีบ สงสัยนิ่วในท่อไต", "ปัสสาวะเป็นเลือด ตรวจหานิ่วในไต"]),
    "CT-CTA-BR": ((F, M), 30, 85, ["สงสัยหลอดเลือดสมองโป่งพอง ปวดศีรษะรุนแรง", "หลอดเลือดสมองตีบ ตรวจก่อนรักษา"]),
    "MR-BRAIN": ((F, M), 3, 85, ["ชักซ้ำ ตรวจหาสาเหตุในสมอง", "ปวดศีรษะเรื้อรัง ตาพร่ามัว", "เวียนศีรษะ เดินเซ สงสัยรอยโรคในสมองน้อย"]),
    "MR-BRAIN-C": ((F, M), 18, 85, ["สงสัยเนื้องอกสมองจาก CT", "ตรวจติดตามก้อนในสมอง"]),
    "MR-LSP": ((F, M), 20, 85, ["ปวดหลังร้าวลงขาซ้าย สงสัยหมอนรองกระดูกทับเส้นประสาท", "ปวดหลังเรื้อรัง ขาชาทั้งสองข้าง"]),
    "MR-KNEE": ((F, M), 15, 70, ["ข้อเข่าบิดขณะเล่นฟุตบอล สงสัยเอ็นไขว้หน้าขาด", "เข่าล็อก ปวดเข่าขวา สงสัยหมอนรองข้อเข่าฉีก"]),
    "MR-MRCP": ((F, M), 25, 90, ["ตัวเหลืองตาเหลือง สงสัยท่อน้ำดีอุดตัน", "ท่อน้ำดีขยายจากอัลตราซาวด์ ตรวจหาสาเหตุ"]),
    "DX-CHEST": ((F, M), 1, 95, ["ไอเรื้อรังเกิน 2 สัปดาห์ คัดกรองวัณโรคปอด", "ตรวจสุขภาพประจำปี ถ่ายภาพปอด", "หอบเหนื่อย สงสัยปอดอักเสบ"]),
    "DX-KUB": ((F, M), 1, 90, ["ปวดท้อง สงสัยลำไส้อุดตัน", "ตรวจหานิ่วในไตและท่อไต"]),
    "DX-LSP": ((F, M), 18, 95, ["ปวดหลังส่วนเอวเรื้อรัง", "ล้มก้นกระแทก ปวดหลัง"]),
    "DX-KNEE": ((F, M), 40, 95, ["ปวดเข่าทั้งสองข้าง สงสัยข้อเข่าเสื่อม", "เข่าบวม เดินลำบาก"]),
    "CR-CHEST": ((F, M), 1, 95, ["ไข้ ไอมีเสมหะ สงสัยปอดอักเสบ", "คัดกรองวัณโรคปอดในผู้สัมผัสร่วมบ้าน"]),
    "MG-SCREEN": ((F,), 40, 74, ["ตรวจคัดกรองมะเร็งเต้านมประจำปี", "มารดาเป็นมะเร็งเต้านม คัดกรองเต้านม"]),
    "MG-DIAG": ((F,), 30, 85, ["คลำได้ก้อนที่เต้านมซ้าย", "หัวนมมีน้ำเลือดไหล ตรวจเต้านม"]),
    "BMD-HIPSP": ((F,), 50, 95, ["หญิงวัยหมดประจำเดือน ประเมินภาวะกระดูกพรุน", "กระดูกสะโพกหักจากการล้ม ประเมินกระดูกพรุน", "ใช้ยาสเตียรอยด์นาน ประเมินกระดูกพรุน"]),
    "RF-BASW": ((F, M), 30, 90, ["กลืนลำบาก สงสัยหลอดอาหารตีบ", "กลืนแล้วติดที่คอ ตรวจหลอดอาหาร"]),
}  # fmt: skip

# The hub's protocol list (รพ.มหาสารคาม): code, modality, Thai, English, contrast.
MKH_PROTOCOLS = [
    ("CT-BR-NC", "CT", "CT สมอง ไม่ฉีดสี", "CT brain non-contrast", False),
    ("CT-BR-C", "CT", "CT สมอง ก่อนและหลังฉีดสี", "CT brain pre and post contrast", True),
    ("CT-CH-C", "CT", "CT ทรวงอก ฉีดสี phase หลอดเลือดดำ", "CT chest venous phase", True),
    ("CT-ABD-PV", "CT", "CT ช่องท้อง portal venous phase", "CT abdomen portal venous", True),
    ("CT-LIV-3P", "CT", "CT ตับ 3 phase", "CT liver triphasic", True),
    ("CT-KUB-NC", "CT", "CT KUB ไม่ฉีดสี (low dose)", "CT KUB low-dose non-contrast", False),
    ("CTA-BR", "CT", "CTA หลอดเลือดสมอง", "CT angiography brain", True),
    ("MR-BR-R", "MR", "MRI สมอง routine", "MRI brain routine", False),
    ("MR-BR-C", "MR", "MRI สมอง ฉีด gadolinium", "MRI brain with gadolinium", True),
    ("MR-LS", "MR", "MRI กระดูกสันหลังส่วนเอว", "MRI lumbar spine", False),
]
