"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile), and the
policy every password chosen by a person must meet (``password_problem``)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes any length; this bounds the work one request can ask for
MIN_DISTINCT_CHARACTERS = 5
# An e-mail's local part shorter than this ("al", "bob") is too likely to occur by chance to refuse.
MIN_LOCAL_PART_CHECKED = 4

# Passwords that head every leaked-password list, and the usual ways of padding them to length.
# Those shorter than MIN_PASSWORD_LENGTH are refused by length anyway; they are listed so that the
# policy stays right if the minimum is ever lowered. Compared case-insensitively.
COMMON_PASSWORDS = frozenset("""
123456 123456789 12345678 12345 1234567 1234567890 123123 111111 000000 654321 666666 121212 112233
123321 987654321 1q2w3e4r 1q2w3e4r5t 1qaz2wsx qwerty qwerty123 qwertyuiop asdfgh asdfghjkl zxcvbnm
password password1 password12 password123 passw0rd p@ssw0rd abc123 abcd1234 iloveyou letmein welcome
monkey dragon master sunshine princess football baseball shadow superman batman trustno1 starwars
admin admin123 administrator root toor login guest changeme secret test test123 hello hello123
freedom whatever qazwsx michael jennifer charlie donald computer internet killer soccer hockey
ashley jessica mustang access flower pokemon cheese summer winter
123456789012 1234567890123 12345678901234 123456789012345 1234567890123456 12345678910 1234512345
111111111111 000000000000 123123123123 121212121212 112233445566 987654321098 123456123456
qwerty123456 qwertyuiop123 qwertyuiop12 1q2w3e4r5t6y 1qaz2wsx3edc qazwsxedcrfv qwertyqwerty
asdfghjkl123 zxcvbnm12345 1234qwerasdf qwer1234asdf asdfasdfasdf zaq12wsxcde3 q1w2e3r4t5y6
password1234 password12345 password123456 password2024 password2025 password2026 passwordpassword
password123! p@ssw0rd1234 p@ssword1234 passw0rd1234 mypassword123 newpassword123 changeme1234
changeme123! welcome12345 welcome123456 welcome2024! welcometo2024 letmein12345 letmein123456
iloveyou1234 iloveyou12345 iloveyouforever administrator1 administrator123 admin1234567 admin12345678
adminadmin123 superadmin123 rootroot1234 secret123456 trustno112345 sunshine1234 princess1234
football1234 baseball1234 starwars1234 superman1234 dragon123456 monkey123456 master123456
correcthorsebatterystaple thequickbrownfox abcdefghijkl abcdefghijklm
abc123456789 abcd12345678 aaaaaaaaaaaa onetwothreefour 1234abcd5678 qwerty12345678 summer2024!
""".split()) | {"correct horse battery staple"}


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why ``password`` is not acceptable for the account ``email``, or None when it is."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters long"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters long"
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        return f"must contain at least {MIN_DISTINCT_CHARACTERS} different characters"
    folded = password.casefold()
    if folded in COMMON_PASSWORDS or folded.strip() in COMMON_PASSWORDS:
        return "is one of the most common passwords"
    local_part = (email or "").strip().rpartition("@")[0].casefold()
    if len(local_part) >= MIN_LOCAL_PART_CHECKED and local_part in folded:
        return "must not contain the name of the e-mail address (the part before @)"
    return None


def generate_password(email: str | None = None) -> str:
    """A random password (20 characters, 120 bits) that meets ``password_problem`` for ``email``."""
    while True:
        password = secrets.token_urlsafe(15)
        if password_problem(password, email) is None:
            return password
