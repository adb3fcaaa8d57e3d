from app.i18n_catalogs import untranslated


def test_every_message_has_thai():
    assert untranslated("th") == []


def test_every_message_has_english():
    assert untranslated("en") == []
