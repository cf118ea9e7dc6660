"""The detectors: each one small named step that finds one kind of secret or personal data.

A detector is a regular expression (the value is group `v` when the match carries context, such
as `password=` before a password), an optional validator (Luhn, address parsing, entropy) and
anchors: byte regexes that every match contains, which the prefilter (prefilter.py) looks for
over a whole column at once, so the expression runs only on texts where one occurs. Order
matters: earlier detectors claim their spans first, so specific kinds (an Anthropic key) come
before generic ones (an `sk-` key).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

SECRET = "SECRET"
PII = "PII"


@dataclass(frozen=True)
class Detector:
    kind: str  # the placeholder's kind: aws_access_key, email, ...
    category: str  # SECRET or PII
    # Byte regexes, each over a view of the text (raw, lower-cased, digits as 0, hex digits as
    # 0); every match of `pattern` contains a match of one of them. The prefilter runs these.
    anchors: tuple[tuple[str, bytes], ...]
    pattern: re.Pattern[str]
    validate: Callable[[str], bool] | None = None

    @property
    def name(self) -> str:
        return f"{self.category.lower()}.{self.kind}"


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    # ASCII classes (\d, \s, \w), like the prefilter's byte anchors: what an anchor cannot
    # see, the detector must not need.
    return re.compile(pattern, flags | re.ASCII)


# -- validators --------------------------------------------------------------------------------


def shannon_entropy(value: str) -> float:
    """Bits per character of `value`."""
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_random(value: str) -> bool:
    """A credential-like value: long enough, high entropy, and not plain words or a number."""
    if len(value) < 12 or value.isdigit() or (value.isalpha() and value.islower()):
        return False
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
        )
    )
    return classes >= 2 and shannon_entropy(value) >= 3.0


def luhn_ok(value: str) -> bool:
    digits = [int(c) for c in value if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _public_ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified or address.is_multicast)


def _ipv6(value: str) -> bool:
    return value.count(":") >= 2 and any(c.isalnum() for c in value) and _public_ip(value)


def _phone(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    return 9 <= digits <= 15


# Names of fields and parameters whose value is a credential (see credential_value_ok for how
# much of a value each kind of name takes).
PASSWORD_NAME = r"(?:pass(?:word|wd|phrase)?|pwd)"
SECRET_NAME = (
    r"(?:secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|client[_\-]?secret"
    r"|auth(?:orization)?|credentials?|session[_\-]?(?:id|key|token)|cookie"
    r"|x[_\-]api[_\-]key|bearer)"
)
_NAME_CHARS = r"[A-Za-z0-9_\-.]"
_CREDENTIAL_NAME = re.compile(
    rf"(?:^|[_\-.]){SECRET_NAME}(?:$|[_\-.])|(?:^|[_\-.]){PASSWORD_NAME}(?:$|[_\-.])", re.I
)
_STRICT_NAME = re.compile(
    r"(?:^|[_\-.])(?:secret|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key"
    r"|client[_\-]?secret)(?:$|[_\-.])",
    re.I,
)
_PASSWORD_NAME = re.compile(rf"(?:^|[_\-.]){PASSWORD_NAME}(?:$|[_\-.])", re.I)


def normalise_name(name: str) -> str:
    """`apiKey` / `X-Api-Key` / `api_key` -> `api_key` / `x-api-key` / `api_key`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def credential_name(name: str) -> str | None:
    """'password' or 'credential' when a field called `name` holds one, else None."""
    norm = normalise_name(name)
    if _PASSWORD_NAME.search(norm):
        return "password"
    if _CREDENTIAL_NAME.search(norm):
        return "credential"
    return None


def credential_value_ok(name: str, value: str) -> bool:
    """Whether `value`, held by a field called `name`, is to be replaced: anything but a
    placeholder under a password name; one word of 6+ characters under a strict secret name
    (`secret`, `api_key`, ...); a random-looking value under a loose one (`token`, `auth`)."""
    kind = credential_name(name)
    if kind is None or value.startswith("<"):
        return False
    if kind == "password":
        return len(value) >= 4
    if _STRICT_NAME.search(normalise_name(name)):
        return len(value) >= 6 and not any(c.isspace() for c in value)
    return looks_random(value)


# -- the detectors -----------------------------------------------------------------------------

_B64 = r"A-Za-z0-9+/"
_URL_SAFE = r"A-Za-z0-9_\-"

DETECTORS: tuple[Detector, ...] = (
    # Private keys first: their bodies would otherwise feed the base64-ish detectors.
    Detector(
        "private_key",
        SECRET,
        (("raw", rb"PRIVATE KEY"),),
        _rx(
            r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]{0,20000}?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
            rf"|(?:[{_B64}=\s]|\\[rn])*)"
        ),
    ),
    Detector(
        "aws_access_key",
        SECRET,
        (("raw", rb"A[KSBCIRGN][IBCDOPS]A"),),
        _rx(
            r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AGPA|ANPA|AIPA)[A-Z0-9]{16}(?![A-Z0-9])"
        ),
    ),
    Detector(
        "aws_secret_key",
        SECRET,
        (("lower", rb"aws"),),
        _rx(
            r"(?i:aws)[A-Za-z0-9_\-. ]{0,30}?(?i:secret|key)[A-Za-z0-9_\-]{0,20}\\?[\"']?\s*[:=]"
            rf"\s*\\?[\"']?(?P<v>[{_B64}]{{40}})(?![{_B64}])"
        ),
    ),
    Detector(
        "gcp_api_key",
        SECRET,
        (("raw", rb"AIza"),),
        _rx(rf"(?<![{_URL_SAFE}])AIza[{_URL_SAFE}]{{35}}(?![{_URL_SAFE}])"),
    ),
    Detector(
        "gcp_oauth_token",
        SECRET,
        (("raw", rb"ya29\."),),
        _rx(rf"(?<![{_URL_SAFE}])ya29\.[{_URL_SAFE}.]{{20,}}"),
    ),
    Detector(
        "azure_storage_key",
        SECRET,
        (("lower", rb"accountkey="), ("lower", rb"sharedaccesskey=")),
        _rx(rf"(?i:AccountKey|SharedAccessKey)=(?P<v>[{_B64}]{{40,88}}={{0,2}})"),
    ),
    Detector(
        "azure_sas_signature",
        SECRET,
        (("raw", rb"sig="),),
        _rx(r"(?<![A-Za-z])sig=(?P<v>[A-Za-z0-9%+/]{30,}={0,2}(?:%3D){0,2})"),
    ),
    Detector(
        "azure_client_secret",
        SECRET,
        (("raw", rb"Q~"),),
        _rx(
            r"(?<![A-Za-z0-9_~.\-])[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}(?![A-Za-z0-9_~.\-])"
        ),
    ),
    Detector(
        "anthropic_api_key",
        SECRET,
        (("raw", rb"sk-ant-"),),
        _rx(rf"(?<![{_URL_SAFE}])sk-ant-[a-z]{{2,8}}\d{{2}}-[{_URL_SAFE}]{{20,}}"),
    ),
    Detector(
        "openai_api_key",
        SECRET,
        (("raw", rb"sk-"),),
        _rx(rf"(?<![{_URL_SAFE}])sk-(?:proj-|svcacct-|admin-|None-)?[{_URL_SAFE}]{{20,}}"),
    ),
    Detector(
        "github_token",
        SECRET,
        (("raw", rb"gh[pousr]_"), ("raw", rb"github_pat_")),
        _rx(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"),
    ),
    Detector(
        "gitlab_token",
        SECRET,
        (("raw", rb"glpat-"),),
        _rx(r"(?<![A-Za-z0-9_])glpat-[A-Za-z0-9_\-]{20,}"),
    ),
    Detector(
        "slack_token",
        SECRET,
        (("raw", rb"xox"), ("raw", rb"hooks\.slack")),
        _rx(
            r"(?<![A-Za-z0-9])xox[abposre]-[A-Za-z0-9\-]{10,}"
            r"|https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]{20,}"
        ),
    ),
    Detector(
        "stripe_key",
        SECRET,
        (("raw", rb"_live_"), ("raw", rb"_test_")),
        _rx(r"(?<![A-Za-z0-9])(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ),
    Detector(
        "huggingface_token",
        SECRET,
        (("raw", rb"hf_"),),
        _rx(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}"),
    ),
    Detector(
        "npm_token",
        SECRET,
        (("raw", rb"npm_"),),
        _rx(r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}"),
    ),
    Detector(
        "sendgrid_key",
        SECRET,
        (("raw", rb"SG\."),),
        _rx(r"SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64}"),
    ),
    Detector(
        "jwt",
        SECRET,
        (("raw", rb"eyJ"),),
        _rx(rf"(?<![{_URL_SAFE}])eyJ[{_URL_SAFE}]{{8,}}\.eyJ[{_URL_SAFE}]{{8,}}\.[{_URL_SAFE}]*"),
    ),
    Detector(
        "bearer_token",
        SECRET,
        tuple(("lower", w + rb"\s") for w in (rb"bearer", rb"token", rb"basic", rb"digest")),
        _rx(
            r"(?i:bearer|token|basic|digest)\s+(?P<v>[A-Za-z0-9_\-.~+/]{12,}={0,2})"
            r"(?![A-Za-z0-9_\-.~+/=])"
        ),
        validate=lambda v: looks_random(v) or ("." in v and len(v) >= 20),
    ),
    Detector(
        "url_password",
        SECRET,
        (("raw", rb"://[^\s:/@\"'\\<>]{1,256}:[^\s@/\"'\\<>]{1,256}@"),),
        _rx(
            r"[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:/@\"'\\<>]{1,256}:(?P<v>[^\s@/\"'\\<>]{1,256})@"
        ),
    ),
    Detector(
        "connection_string_password",
        SECRET,
        (
            ("lower", rb"pass(?:word|wd|phrase)?\\?[\"']?\s*[:=]"),
            ("lower", rb"pwd\\?[\"']?\s*[:=]"),
        ),
        _rx(
            rf"(?i:{PASSWORD_NAME})\\?[\"']?\s*[:=]\s*\\?[\"']?"
            r"(?P<v>(?!<)[^\s;&\"'\\,}{)\]]{4,256})"
        ),
    ),
    Detector(
        "credential_field",
        SECRET,
        tuple(
            ("lower", w + rb"[a-z0-9_\-.]{0,40}\\?[\"']?\s*[:=]\s*\\?[\"']?[a-z0-9_\-.~+/=]{6}")
            for w in (
                rb"secret",
                rb"token",
                rb"key",
                rb"auth",
                rb"credential",
                rb"session",
                rb"cookie",
                rb"bearer",
            )
        ),
        _rx(
            rf"(?<![A-Za-z0-9<])(?P<n>{_NAME_CHARS}{{0,40}}?(?i:{SECRET_NAME}){_NAME_CHARS}{{0,40}}?)"
            r"\\?[\"']?\s*[:=]\s*\\?[\"']?(?P<v>(?!<)[A-Za-z0-9_\-.~+/=]{6,512})"
        ),
        validate=looks_random,
    ),
    Detector(
        "email",
        PII,
        # the domain, not only `@`: agent text is full of `component@version`
        (("raw", rb"@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24}"),),
        _rx(
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
        ),
    ),
    Detector(
        "card_number",
        PII,
        # Luhn needs 13+ digits: 13 in a row, or groups of 3+ with a separator between.
        (("digits", rb"0000000000000"), ("digits", rb"000[ \-]000")),
        _rx(r"(?<![\d\-.])(?:[2-6]\d{3})(?:[ \-]?\d{3,4}){2,3}(?:[ \-]?\d{1,4})?(?![\d\-.])"),
        validate=luhn_ok,
    ),
    Detector(
        "phone",
        PII,
        (("digits", rb"000[ .\-]000"), ("digits", rb"\+000000000")),
        _rx(
            r"(?<![\w+.\-/:])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)[ .\-]?|\d{2,4}[ .\-])"
            r"\d{3,4}[ .\-]\d{3,4}(?![\w.\-/]|:\d)"
            r"|(?<![\w+])\+\d{9,14}(?![\w.])"
        ),
        validate=_phone,
    ),
    Detector(
        "ipv4",
        PII,
        (("digits", rb"0\.00{0,2}\.00{0,2}\.0"),),
        _rx(
            r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.])"
        ),
        validate=_public_ip,
    ),
    Detector(
        "ipv6",
        PII,
        (("hex", rb"::"), ("hex", rb"0:00{0,3}:00{0,3}:00{0,3}:00{0,3}:00{0,3}:")),
        _rx(
            r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
            r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4}|(?<=::))(?!\w|:[0-9A-Fa-f])"
        ),
        validate=_ipv6,
    ),
)

BY_KIND: dict[str, Detector] = {d.kind: d for d in DETECTORS}
