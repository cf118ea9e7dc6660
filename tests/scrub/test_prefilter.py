"""The prefilter's RE2 pass (jobs/silver/scrub/prefilter.py) only sets texts aside that no anchor
matches: on the planted corpus and on texts shaped to probe each widening (upper case for the
lower-cased view, every digit for the digits view, a vertical tab for `\\s`, non-ASCII inside a
counted run), a batch through `flag` / `flag_array` flags every text the anchors alone flag."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc
from scrubcorpus import planted_corpus

from tracelake.jobs.silver.scrub.detectors import BY_KIND, DETECTORS
from tracelake.jobs.silver.scrub.prefilter import (
    _ANCHORS,
    FAST_PATTERN,
    _flag_all,
    _raw_regex,
    flag,
    flag_array,
)

# Clean filler, so that every batch is large enough to take the RE2 pass.
FILLER = ["the agent read the file and wrote a short summary of it " * 40] * 12


def _texts() -> list[str]:
    texts = []
    for planted in planted_corpus():
        for value in planted.event.values():
            values = value.values() if isinstance(value, dict) else [value]
            texts += [v for v in values if isinstance(v, str)]
    rng = random.Random(3)
    probes = [
        "Authorization: BEARER abcdefghijklmnop1234",
        "API_TOKEN\x0b=\x0bq8Zk2LmN9pR4",
        "SECRET_KEY = 'Zx9-Qw8_Er7.Ty6'",
        "call 555.867.5309 or +14155550123",
        "card 4111 1111 1111 1111, ip 203.0.113.7, v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "postgres://admin:s3cr\u00e9t-p\u00e4ss@db.internal:5432/app",
        "mail J\u00fcrgen.Doe@example.co.uk",
        "PASSWORD\t:\thunter22",
    ]
    for probe in probes:  # each in several cases and with digits shuffled
        texts += [probe, probe.upper(), probe.lower()]
        texts.append("".join(rng.choice("0123456789") if c.isdigit() else c for c in probe))
    return texts


def _each_alone(texts: list[str]) -> list[set[int] | None]:
    return [_flag_all([t])[0] for t in texts]


def test_the_re2_pass_never_hides_what_the_anchors_find():
    texts = _texts() + FILLER
    alone = _each_alone(texts)
    assert sum(1 for a in alone if a) > 100  # the corpus gives the anchors work
    for result in (flag(texts), _as_list(flag_array(pa.array(texts)), len(texts))):
        for text, want, got in zip(texts, alone, result, strict=True):
            assert not want or (got is not None and want <= got), (text, want, got)


def test_clean_agent_text_is_set_aside_whole():
    # `component@version` and plain prose: no detector could match, none is run
    clean = [
        f"step {i}: WebFetcherTool@1.{i % 3} fetched the page; SummarizerAgent@2.0 wrote it"
        for i in range(400)
    ]
    assert flag(clean) == [None] * len(clean)
    assert flag_array(pa.array(clean)) == {}
    assert not any(pc.match_substring_regex(pa.array(clean), FAST_PATTERN).to_pylist())


def test_the_email_anchor_is_the_domain():
    email = DETECTORS.index(BY_KIND["email"])
    texts = ["write to ana.perez@example.org today", "ReadFileTool@1.0 read it", *FILLER]
    flags = flag(texts)
    assert flags[0] is not None and email in flags[0]
    assert flags[1] is None


def test_each_anchor_widens_to_a_valid_re2_pattern():
    for _, view, _, anchor in _ANCHORS:
        pattern = _raw_regex(anchor.pattern, view)
        assert pc.match_substring_regex(pa.array(["x"]), pattern).to_pylist() == [False]


def _as_list(found: dict[int, set[int]], n: int) -> list[set[int] | None]:
    return [found.get(i) for i in range(n)]


def test_invalid_utf8_meets_the_pass_as_bytes():
    # Parquet strings are not validated: a byte that is not UTF-8 inside a URL password must
    # not hide it (RE2 runs over the bytes, as the anchors do)
    broken = pa.array([b"postgres://us\xffer:pw@localhost:5432/app"]).view(pa.string())
    column = pa.concat_arrays([broken, pa.array(FILLER)])
    assert 0 in flag_array(column)
