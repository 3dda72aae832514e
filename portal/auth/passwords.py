"""Password hashing with argon2id, and the rules a new password must meet."""
from __future__ import annotations

import os
import re
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's current recommended cost
# Verified against when the username is unknown, so both cases take equally long. Stored hashes
# are brought to these same parameters at sign-in (needs_rehash), so no account costs less or more.
_DUMMY_HASH = _hasher.hash("kliniki-not-a-password")

MIN_LENGTH = 12
MAX_LENGTH = 128
DEMO_PASSWORD = "kliniki-demo"  # the demo accounts' password (portal/seed.py), never a real one's
COMMON_PASSWORDS_FILE = os.path.join(os.path.dirname(__file__), "common_passwords.txt")
# Runs along the keyboard or the alphabet, which a guesser tries early.
SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm", "qwertzuiop", "azertyuiop",
             "1234567890", "0987654321", "zyxwvutsrqponmlkjihgfedcba", "1qaz2wsx3edc4rfv")
LEET = str.maketrans({"@": "a", "4": "a", "8": "b", "3": "e", "6": "g", "1": "i", "!": "i", "0": "o",
                      "$": "s", "5": "s", "7": "t", "+": "t", "2": "z"})
_EDGE = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_NOT_LETTER = re.compile(r"[\W\d_]+")


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password against a stored hash; an unknown user's check costs the same."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when a stored hash was made with other parameters than new ones get."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords and words, lower case."""
    with open(COMMON_PASSWORDS_FILE, encoding="utf-8") as handle:
        return frozenset(line.strip().lower() for line in handle
                         if line.strip() and not line.startswith("#"))


def _is_common(lowered: str) -> bool:
    """A listed password, also with digits and symbols around it or in leetspeak (P@ssw0rd2024!)."""
    listed = common_passwords()
    core = _EDGE.sub("", lowered)
    candidates = {lowered, core, core.translate(LEET), lowered.translate(LEET),
                  _NOT_LETTER.sub("", lowered), _NOT_LETTER.sub("", lowered.translate(LEET))}
    if any(candidate in listed for candidate in candidates if candidate):
        return True
    for text in (lowered, lowered.translate(LEET)):  # only listed words: "welcome-to-kliniki"
        words = [word for word in _NOT_LETTER.split(text) if len(word) >= 3]
        if words and all(word in listed for word in words):
            return True
    return False


def _without_runs(lowered: str) -> str:
    """The password with every run of four or more keys along the keyboard or alphabet taken out."""
    rest, i = [], 0
    while i < len(lowered):
        end = max((j for j in range(i + 4, len(lowered) + 1)
                   if any(lowered[i:j] in run for run in SEQUENCES)), default=i)
        if end > i:
            i = end
        else:
            rest.append(lowered[i])
            i += 1
    return "".join(rest)


def _is_pattern(lowered: str) -> bool:
    """Only digits, few distinct characters, one chunk repeated, or mostly a run of keys."""
    if lowered.isdigit() or len(set(lowered)) <= 3:
        return True
    if lowered in (lowered + lowered)[1:-1]:  # a chunk repeated: "abcabcabcabc"
        return True
    return len(_without_runs(lowered)) < 6


def _names_of(username: str, full_name: str) -> list[str]:
    parts = re.split(r"[\W_]+", f"{username} {full_name}".lower())
    whole = [username.lower(), re.sub(r"[\W_]+", "", full_name.lower())]
    return sorted({part for part in parts + whole if len(part) >= 3}, key=len, reverse=True)


def _is_personal(lowered: str, username: str, full_name: str) -> bool:
    """Made of the person's username or name, with little else beyond digits and symbols."""
    if len(username) >= 4 and username.lower() in lowered:
        return True
    rest = lowered
    for name in _names_of(username, full_name):
        rest = rest.replace(name, "")
    return rest != lowered and len(_NOT_LETTER.sub("", rest)) < 6


def password_problem(password: str, username: str = "", full_name: str = "") -> str | None:
    """Explain why a new password is not acceptable, or None."""
    if not password.strip():
        return f"Enter a password of at least {MIN_LENGTH} characters."
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered == DEMO_PASSWORD:
        return "That is the password of the demo accounts; choose another for a real account."
    if _is_personal(lowered, username.strip(), full_name.strip()):
        return "Do not build the password from the username or the name of the person."
    if _is_pattern(lowered):
        return "That password is too easy to guess (digits only, a repeat or a run of keys)."
    if _is_common(lowered):
        return "That password is on the list of common passwords; choose a less common one."
    return None
