"""A seeded corpus of planted secrets and personal data, in every field shape an event has.

Each planted item is (kind, category, value, event): `value` must not survive scrubbing of
`event` anywhere. Values are random in each kind's real format, so the detectors cannot know
them; the shapes cover plain text, JSON values (nested, in lists, under credential-named keys),
double-encoded JSON, attribute values, header lines and shell snippets.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits
URL_SAFE = ALNUM + "_-"
B64 = ALNUM + "+/"


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def _pem(rng: random.Random) -> str:
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    lines = [_pick(rng, B64, 64) for _ in range(rng.randint(3, 8))]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"


# kind -> (category, value generator, snippet template: how the value appears in prose)
Gen = Callable[[random.Random], str]
SECRET_KINDS: dict[str, tuple[Gen, str]] = {
    "aws_access_key": (lambda r: r.choice(["AKIA", "ASIA"]) + _pick(r, UPPER_DIGITS, 16), "{v}"),
    "aws_secret_key": (lambda r: _pick(r, B64, 40), "aws_secret_access_key = {v}"),
    "gcp_api_key": (lambda r: "AIza" + _pick(r, URL_SAFE, 35), "{v}"),
    "gcp_oauth_token": (lambda r: "ya29." + _pick(r, URL_SAFE, 60), "{v}"),
    "azure_storage_key": (
        lambda r: _pick(r, B64, 86) + "==",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={v};EndpointSuffix=core",
    ),
    "azure_client_secret": (lambda r: _pick(r, ALNUM, 3) + "8Q~" + _pick(r, ALNUM, 34), "{v}"),
    "azure_sas_signature": (
        lambda r: _pick(r, ALNUM, 43) + "%3D",
        "https://acct.blob.core.windows.net/c?sv=2022-11-02&se=2026&sig={v}",
    ),
    "private_key": (_pem, "{v}"),
    "openai_api_key": (lambda r: "sk-proj-" + _pick(r, URL_SAFE, 48), "{v}"),
    "anthropic_api_key": (lambda r: "sk-ant-api03-" + _pick(r, URL_SAFE, 93) + "AA", "{v}"),
    "github_token": (lambda r: r.choice(["ghp_", "ghs_", "gho_"]) + _pick(r, ALNUM, 36), "{v}"),
    "gitlab_token": (lambda r: "glpat-" + _pick(r, URL_SAFE, 20), "{v}"),
    "slack_token": (
        lambda r: "xoxb-" + _pick(r, string.digits, 12) + "-" + _pick(r, ALNUM, 24),
        "{v}",
    ),
    "stripe_key": (lambda r: r.choice(["sk_live_", "rk_test_"]) + _pick(r, ALNUM, 24), "{v}"),
    "huggingface_token": (lambda r: "hf_" + _pick(r, string.ascii_letters, 34), "{v}"),
    "npm_token": (lambda r: "npm_" + _pick(r, ALNUM, 36), "{v}"),
    "sendgrid_key": (
        lambda r: "SG." + _pick(r, URL_SAFE, 22) + "." + _pick(r, URL_SAFE, 43),
        "{v}",
    ),
    "jwt": (
        lambda r: (
            "eyJhbGciOiJIUzI1NiJ9.eyJ" + _pick(r, URL_SAFE, 40) + "." + _pick(r, URL_SAFE, 43)
        ),
        "{v}",
    ),
    "bearer_token": (lambda r: _pick(r, ALNUM, 32), "Authorization: Bearer {v}"),
    "url_password": (
        lambda r: _pick(r, ALNUM, 6) + r.choice("!$*") + _pick(r, ALNUM, 5),
        "postgres://app_user:{v}@db.internal:5432/orders",
    ),
    "connection_string_password": (
        lambda r: _pick(r, string.ascii_lowercase, 6) + _pick(r, string.digits, 2),
        "Server=db01;Database=crm;User Id=sa;Password={v};",
    ),
    "credential_field": (
        lambda r: _pick(r, ALNUM, 28),
        "client_secret={v}",
    ),
}
PII_KINDS: dict[str, tuple[Gen, str]] = {
    "email": (
        lambda r: (
            f"{_pick(r, string.ascii_lowercase, 6)}.{_pick(r, string.ascii_lowercase, 5)}"
            f"@{r.choice(['example.com', 'mail.co.uk', 'corp.io'])}"
        ),
        "{v}",
    ),
    "phone": (
        lambda r: r.choice(
            [
                f"+1 {r.randint(201, 989)}-{r.randint(200, 999)}-{r.randint(1000, 9999)}",
                f"({r.randint(201, 989)}) {r.randint(200, 999)}-{r.randint(1000, 9999)}",
                f"+44 20 {r.randint(1000, 9999)} {r.randint(1000, 9999)}",
            ]
        ),
        "{v}",
    ),
    "ipv4": (
        lambda r: (
            f"{r.choice([r.randint(11, 126), r.randint(128, 223)])}."
            f"{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
        ),
        "{v}",
    ),
    "ipv6": (
        lambda r: (
            "2001:db8::" + ":".join(f"{r.randint(1, 65535):x}" for _ in range(r.randint(1, 4)))
            if r.random() < 0.5
            else "2a02:1810:" + ":".join(f"{r.randint(1, 65535):x}" for _ in range(6))
        ),
        "{v}",
    ),
    "card_number": (
        lambda r: _luhn_complete(
            r.choice(["4", "51", "55", "37", "6011"]), r.choice([16, 16, 15]), r
        ),
        "{v}",
    ),
}

# Where a snippet lands in an event: each shape makes the event fields around it.
SHAPES: dict[str, Callable[[str, str, str], dict[str, Any]]] = {
    "reasoning_prose": lambda s, v, k: {"reasoning": f"Next I call the service with {s} as set."},
    "goal": lambda s, v, k: {"goal": f"Rotate {s} for the team"},
    "error_text": lambda s, v, k: {"error": f"HTTP 401 for {s}: invalid"},
    "json_value": lambda s, v, k: {"input": orjson.dumps({"args": {"text": s}}).decode()},
    "json_nested_list": lambda s, v, k: {
        "output": orjson.dumps({"steps": [{"ok": True, "out": ["x", s]}]}).decode()
    },
    "json_credential_key": lambda s, v, k: {"input": orjson.dumps({"api_key": v}).decode()},
    "json_double_encoded": lambda s, v, k: {
        "output": orjson.dumps({"body": orjson.dumps({"note": s}).decode()}).decode()
    },
    "json_headers": lambda s, v, k: {
        "input": orjson.dumps({"headers": {"X-Request": "1", "Cookie": "a=1"}, "q": s}).decode()
    },
    "attribute": lambda s, v, k: {"attributes": {"http.request.body": s}},
    "attribute_credential": lambda s, v, k: {"attributes": {"auth.secret": v}},
    "shell": lambda s, v, k: {"action": f"export TOKEN_VALUE='{s}' && ./deploy.sh"},
    "markdown": lambda s, v, k: {"output": f"Result:\n```\n{s}\n```\nDone."},
    "state_change": lambda s, v, k: {"state_change": orjson.dumps({"memo": [s]}).decode()},
}
# Credential-named key shapes only make sense for kinds that are values on their own.
_CONTEXT_KINDS = {
    "url_password",
    "connection_string_password",
    "credential_field",
    "aws_secret_key",
}
_PII_SKIP_SHAPES = {"json_credential_key", "attribute_credential"}


@dataclass(frozen=True)
class Planted:
    kind: str
    category: str
    shape: str
    value: str
    event: dict[str, Any]

    @property
    def needle(self) -> str:
        """What must not survive: the value (a private key: one line of its body)."""
        return self.value.splitlines()[1] if self.kind == "private_key" else self.value


def planted_corpus(seed: int = 7, per_shape: int = 8) -> list[Planted]:
    rng = random.Random(seed)
    items: list[Planted] = []
    for category, kinds in (("SECRET", SECRET_KINDS), ("PII", PII_KINDS)):
        for kind, (gen, template) in kinds.items():
            for shape, make in SHAPES.items():
                if category == "PII" and shape in _PII_SKIP_SHAPES:
                    continue
                if kind in _CONTEXT_KINDS and shape in ("json_credential_key",):
                    continue
                for i in range(per_shape):
                    value = gen(rng)
                    fields = make(template.format(v=value), value, kind)
                    event = {
                        "event_id": f"{kind}-{shape}-{i}",
                        "run_id": f"run-{i % 3}",
                        **fields,
                    }
                    items.append(Planted(kind, category, shape, value, event))
    return items


def survives(planted: Planted, scrubbed: dict[str, Any]) -> bool:
    """Whether the planted value is still readable anywhere in the scrubbed event."""
    needle = planted.needle
    for value in scrubbed.values():
        texts = list(value.values()) if isinstance(value, dict) else [value]
        for text in texts:
            if isinstance(text, str) and (
                needle in text or orjson.dumps(needle).decode()[1:-1] in text
            ):
                return True
    return False
