"""Keep the Babel catalogues in step with the code: ``python -m app.i18n_catalogs update|check``.

- ``update``: extract msgids, update ``th`` and ``en``; English msgids are their own
  English translation, so the ``en`` catalogue is filled from the msgid.
- ``check``: exit 1 listing every msgid without a Thai translation (also a test).
- ``merge OTHER.po``: take Thai translations from another copy of the catalogue
  (used when two branches both added messages).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
POT = TRANSLATIONS / "messages.pot"


def catalogue_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def _read(path: Path):
    with path.open("rb") as fh:
        return read_po(fh)


def _write(path: Path, catalog) -> None:
    with path.open("wb") as fh:
        write_po(fh, catalog, omit_header=False, no_location=True, sort_output=True, width=100)


def extract() -> None:
    pybabel = str(Path(sys.executable).with_name("pybabel"))
    subprocess.run(
        [
            pybabel,
            "-q",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "N_",
            "-k",
            "_l",
            "-o",
            str(POT),
            "--no-location",
            "--sort-output",
            "--ignore-dirs=.venv",
            "--ignore-dirs=tests",
            "--ignore-dirs=migrations",
            "--ignore-dirs=benchmarks",
            str(ROOT),
        ],
        check=True,
        cwd=ROOT,
    )
    template = _read(POT)
    for locale in ("th", "en"):
        catalog = _read(catalogue_path(locale))
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        _write(catalogue_path(locale), catalog)
    english = _read(catalogue_path("en"))
    for message in english:
        if message.id and not message.string:
            message.string = message.id
    _write(catalogue_path("en"), english)


def untranslated(locale: str = "th") -> list[str]:
    catalog = _read(catalogue_path(locale))
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def merge(other: Path, locale: str = "th") -> int:
    mine = _read(catalogue_path(locale))
    theirs = _read(other)
    filled = 0
    for message in mine:
        if message.id and not message.string:
            found = theirs.get(message.id)
            if found is not None and found.string:
                message.string = found.string
                filled += 1
    _write(catalogue_path(locale), mine)
    return filled


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "update":
        extract()
        missing = untranslated("th")
        print(f"catalogues updated; {len(missing)} msgids without Thai")
        return 0
    if command == "merge":
        print(f"filled {merge(Path(argv[1]))}")
        return 0
    missing = untranslated("th")
    for msgid in missing:
        print(f"untranslated (th): {msgid}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
