"""Is a new password good enough? (ASVS 2.1.1, 2.1.7; NIST SP 800-63B 5.1.1.2)

Length (12 to 128 characters) and a check against what attackers try first, not
character-class rules. The check is zxcvbn (Dropbox's estimator, the ``zxcvbn``
package): it ships frequency lists of the most common passwords from breach corpora,
English words, names and keyboard patterns, and sees through the usual disguises
(``P@ssw0rd``, appended years and digits, ``qwerty``-like walks, repeats), all offline.
A password it expects to fall within 10^10 guesses (score below 3, "safely
unguessable" starts at 3) is refused, as is one built from the username, the person's
name or RadBook's own words, and the short local list below.
"""

from __future__ import annotations

import re

from scheduling.i18n import N_

PASSWORD_MIN_LENGTH = 12  # ASVS 2.1.1
PASSWORD_MAX_LENGTH = 128  # ASVS 2.1.2
MIN_SCORE = 3
ESTIMATE_CHARS = 72  # zxcvbn's own limit; a longer password is judged by its start

# Words of this place an attacker tries first, on top of zxcvbn's lists.
LOCAL_WORDS = (
    "radbook", "radbook-demo", "mahasarakham", "sarakham", "kudrang", "kosum", "hospital",
    "xray", "x-ray", "radiology", "moph", "hosxp", "pacs",
)  # fmt: skip


def password_problems(password: str, username: str = "", full_name: str = "") -> list[str]:
    """What is wrong with a new password, as msgids (empty when it is acceptable)."""
    problems = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(N_("The password must have at least 12 characters"))
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(N_("The password may have at most 128 characters"))
    lowered = password.lower()
    bare_name = re.sub(r"[\W_]+", "", username.lower())
    if username and (
        username.lower() in lowered
        or (len(bare_name) >= 4 and bare_name in re.sub(r"[\W_]+", "", lowered))
    ):
        problems.append(N_("The password must not contain the username"))
    if len(set(password)) < 5:
        problems.append(N_("The password repeats too few different characters"))
    if not password:
        return problems
    hints = [username, *username.replace(".", " ").replace("_", " ").split()]
    hints += full_name.split() if full_name else []
    # Imported here: building its frequency dictionaries costs every process start
    # ~0.1 s, and only a password change uses them (tests/app/test_startup.py).
    from zxcvbn import zxcvbn

    estimate = zxcvbn(password[:ESTIMATE_CHARS], user_inputs=[*LOCAL_WORDS, *hints])
    if estimate["score"] < MIN_SCORE:
        problems.append(
            N_(
                "This password is too common or too easy to guess (a known password, a word "
                "with digits or a year, a keyboard pattern); choose a longer phrase"
            )
        )
    return problems
