"""The hot-path reader (split, escapes, MSH-18), MLLP framing and the hand-built ACKs."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.hl7.ack import AckContext, AckError, build_ack
from integrations.hl7.message import (
    Delimiters,
    Hl7Message,
    Hl7ParseError,
    decode_message,
    escape,
    parse_date,
    parse_datetime,
    unescape,
)
from integrations.hl7.mllp import BLOCK_END, START_BLOCK, Deframer, frame

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@given(st.text())
def test_escape_then_unescape_gives_the_text_back(text):
    text = text.replace("\r", "")  # a line break comes back as \n, tested below
    assert unescape(escape(text)) == text


@given(st.text())
def test_escaped_text_has_no_delimiters(text):
    escaped = escape(text)
    for char in "|^~&\r\n":
        assert char not in escaped


def test_escape_sequences_and_line_breaks():
    assert escape("a|b^c~d&e\\f") == "a\\F\\b\\S\\c\\R\\d\\T\\e\\E\\f"
    assert escape("บรรทัด 1\r\nบรรทัด 2") == "บรรทัด 1\\.br\\บรรทัด 2"
    assert unescape("\\H\\ตัวหนา\\N\\ ปกติ\\.br\\ต่อ") == "ตัวหนา ปกติ\nต่อ"
    assert unescape("\\X41\\") == "A"
    # Non-standard delimiters are honoured.
    d = Delimiters("#", "$", "*", "!", "@")
    assert unescape("a!F!b!S!c", d) == "a#b$c"


def test_segments_fields_components_and_repetitions():
    msg = Hl7Message(
        "MSH|^~\\&|HOSXP^1.2.3^ISO|11008|RADBOOK|10707|20261121090000||ORM^O01^ORM_O01|C1|P|2.5.1\r"
        "PID|1||HN1^^^11008^MR~1101700230705^^^TH-CID^NI||ใจดี^สมชาย^^^นาย~JAIDEE^SOMCHAI\r"
        "NTE|1||a\\S\\b\r"
    )
    assert msg.message_type == "ORM^O01"
    assert msg.control_id == "C1"
    assert msg.sending_application == "HOSXP" and msg.sending_facility == "11008"
    assert msg.msh.get(1) == "|" and msg.msh.raw(2) == "^~\\&"
    pid = msg.segment("PID")
    assert pid.get(3, 1, repetition=1) == "1101700230705"
    assert pid.get(3, 5, repetition=1) == "NI"
    assert pid.components(5, 1) == ["JAIDEE", "SOMCHAI"]
    assert msg.segment("NTE").get(3) == "a^b"
    assert msg.segment("OBR") is None and pid.get(40) == ""


def test_line_feeds_and_odd_delimiters_are_read():
    msg = Hl7Message("MSH#$*!@#APP#11008#####ADT$A04#X9#P#2.3\nPID#1##HN1$$$$MR\n")
    assert msg.message_type == "ADT^A04"
    assert msg.segment("PID").get(3, 5) == "MR"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "PID|1||x",
        "MSH",
        "MSH|^~\\&|A|B\rP!D|x",
    ],
)
def test_unreadable_text_raises(text):
    with pytest.raises(Hl7ParseError):
        Hl7Message(text)


@pytest.mark.parametrize(
    ("msh18", "codec"),
    [
        ("UNICODE UTF-8", "utf-8"),
        ("TIS-620", "cp874"),
        ("ISO IR166", "cp874"),
        ("CNS 11643-1992", "cp874"),  # dcm4che's spelling for Thai
        ("8859/11", "cp874"),
    ],
)
def test_character_sets_from_msh18(msh18, codec):
    text = f"MSH|^~\\&|A|11008|||||ADT^A04|1|P|2.5|||||THA|{msh18}\rPID|1||||ใจดี^สมชาย\r"
    data = text.encode(codec)
    decoded, used, declared = decode_message(data)
    assert used == codec and declared == msh18
    assert "ใจดี^สมชาย" in decoded


def test_undeclared_character_set_is_utf8_else_tis620():
    text = "MSH|^~\\&|A|11008|||||ADT^A04|1|P|2.5\rPID|1||||ใจดี^สมชาย\r"
    assert decode_message(text.encode("utf-8"))[1] == "utf-8"
    decoded, used, _ = decode_message(text.encode("tis-620"))
    assert used == "cp874" and "ใจดี" in decoded


def test_unknown_or_wrong_character_set_is_refused():
    with pytest.raises(Hl7ParseError) as unknown:
        decode_message(b"MSH|^~\\&|A|B|||||ADT^A04|1|P|2.5|||||THA|EBCDIC\r")
    assert unknown.value.location == "MSH^1^18"
    with pytest.raises(Hl7ParseError):
        decode_message(
            "MSH|^~\\&|A|B|||||ADT^A04|1|P|2.5|||||THA|UNICODE UTF-8\rPID|ใจ".encode("tis-620")
        )


def test_dates_buddhist_era_and_offsets():
    assert parse_date("25230115") == date(1980, 1, 15)  # B.E. 2523
    assert parse_date("19800115120000") == date(1980, 1, 15)
    assert parse_date("1980") is None and parse_date("19801345") is None
    # No offset: Bangkok time.
    assert parse_datetime("20261121090000") == NOW
    assert parse_datetime("20261121020000+0000") == NOW
    assert parse_datetime("not a date") is None


# --- MLLP framing -----------------------------------------------------------------------------


def test_blocks_split_across_reads_and_noise_between_them():
    deframer = Deframer(max_bytes=1000)
    stream = b"\r\n" + frame(b"MSH|one") + b"noise" + frame(b"MSH|two")
    blocks = []
    for i in range(len(stream)):  # one byte at a time: FS and CR arrive apart
        blocks += deframer.feed(stream[i : i + 1])
    assert [b.data for b in blocks] == [b"MSH|one", b"MSH|two"]
    assert not any(b.truncated or b.oversized for b in blocks)


def test_oversized_block_is_dropped_but_its_head_kept_and_the_stream_resyncs():
    deframer = Deframer(max_bytes=100)
    big = b"MSH|^~\\&|A|B|||||ADT^A04|BIG1|P|2.5\r" + b"x" * 5000
    blocks = deframer.feed(START_BLOCK + big[:3000])
    assert blocks == []
    blocks = deframer.feed(big[3000:] + BLOCK_END + frame(b"MSH|next"))
    assert len(blocks) == 2
    assert blocks[0].oversized and blocks[0].data.startswith(b"MSH|^~\\&|A|B")
    assert len(blocks[0].data) <= 4096
    assert blocks[1].data == b"MSH|next" and not blocks[1].oversized


def test_a_new_start_block_truncates_the_open_one():
    deframer = Deframer()
    blocks = deframer.feed(START_BLOCK + b"MSH|half" + frame(b"MSH|whole"))
    assert [(b.data, b.truncated) for b in blocks] == [(b"MSH|half", True), (b"MSH|whole", False)]


def test_connection_closed_mid_block():
    deframer = Deframer()
    assert deframer.feed(START_BLOCK + b"MSH|cut") == []
    block = deframer.close()
    assert block is not None and block.truncated and block.data == b"MSH|cut"
    assert Deframer().close() is None


# --- ACKs -------------------------------------------------------------------------------------


def _ctx(version: str = "2.5.1") -> AckContext:
    msg = Hl7Message(
        f"MSH|^~\\&|HOSXP|11008|RADBOOK|10707|20261121090000||ORM^O01|C\\S\\1|P|{version}\r"
    )
    return AckContext.from_message(msg)


def test_ack_aa_echoes_the_control_id_with_escaping():
    ack = Hl7Message(build_ack(_ctx(), "AA", NOW))
    assert ack.message_type == "ACK^O01"
    assert ack.msh.raw(5) == "HOSXP" and ack.msh.raw(6) == "11008"
    assert ack.msh.raw(4) == "10707"
    assert ack.segment("MSA").get(1) == "AA"
    assert ack.segment("MSA").get(2) == "C^1"
    assert ack.segment("ERR") is None


def test_ack_ae_v251_carries_the_thai_user_message_and_validates_with_hl7apy():
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    error = AckError(
        "102",
        "Invalid national ID: the check digit does not match",
        "เลขประจำตัวประชาชนไม่ถูกต้อง",
        location="PID^1^3",
        app_code="cid-checksum",
    )
    text = build_ack(_ctx(), "AE", NOW, error=error)
    ack = Hl7Message(text)
    err = ack.segment("ERR")
    assert err.get(2) == "PID" and err.get(2, 3) == "3"
    assert err.get(3) == "102" and err.get(3, 3) == "HL70357"
    assert err.get(4) == "E" and err.get(5) == "cid-checksum"
    assert err.get(8) == "เลขประจำตัวประชาชนไม่ถูกต้อง"
    assert ack.segment("MSA").get(3).startswith("Invalid national ID")
    parsed = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT)
    parsed.validate()
    assert parsed.msa.msa_1.value == "AE"


def test_ack_before_v25_uses_err1_and_puts_the_thai_in_msa3():
    error = AckError("103", "Unknown procedure code X", "ไม่รู้จักรหัสการตรวจ X", location="OBR^1^4")
    ack = Hl7Message(build_ack(_ctx("2.3.1"), "AE", NOW, error=error))
    assert ack.segment("MSA").get(3) == "ไม่รู้จักรหัสการตรวจ X"
    err = ack.segment("ERR")
    assert err.components(1)[:3] == ["OBR", "1", "4"]
    assert err.get(1, 4, 1) == "103"
