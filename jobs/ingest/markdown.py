"""Tolerant reading of the markdown that LLM-driven agent frameworks write.

Files follow a template only roughly: keys change case, bullets switch between `- **key**: v`,
`**Key:** v` and `key: v`, titles spill onto a second line, `---` rules come doubled. Every
helper keeps the 1-based line numbers of what it read so events can point back at their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass(frozen=True)
class Line:
    no: int  # 1-based line number in the file
    text: str


def lines_of(text: str, first_line: int = 1) -> list[Line]:
    return [Line(first_line + i, t.rstrip("\r")) for i, t in enumerate(text.split("\n"))]


def span(lines: list[Line]) -> tuple[int, int]:
    """First and last non-blank line numbers (the whole range when all are blank)."""
    filled = [ln.no for ln in lines if ln.text.strip()]
    if not filled:
        return (lines[0].no, lines[-1].no) if lines else (0, 0)
    return filled[0], filled[-1]


def position(start: int, end: int) -> str:
    return f"lines:{start}-{end}"


def raw_text(lines: list[Line]) -> str:
    return "\n".join(ln.text for ln in lines)


def strip_blank(lines: list[Line]) -> list[Line]:
    start, end = 0, len(lines)
    while start < end and not lines[start].text.strip():
        start += 1
    while end > start and not lines[end - 1].text.strip():
        end -= 1
    return lines[start:end]


_RULE_RE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_FENCE_RE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def is_rule(text: str) -> bool:
    return bool(_RULE_RE.match(text))


def _fence_mask(lines: list[Line]) -> list[bool]:
    """True for lines inside (or delimiting) fenced code blocks."""
    mask, fence = [], None
    for ln in lines:
        match = _FENCE_RE.match(ln.text)
        if fence is None and match:
            fence = match.group(1)[0] * 3
            mask.append(True)
        elif fence is not None:
            mask.append(True)
            if ln.text.strip().startswith(fence):
                fence = None
        else:
            mask.append(False)
    return mask


# --- front matter -------------------------------------------------------------------------


@dataclass
class FrontMatter:
    data: dict[str, Any] | None  # None when the block is not a YAML mapping
    lines: list[Line]  # the block including its `---` delimiters
    error: str | None = None

    @property
    def range(self) -> tuple[int, int]:
        return self.lines[0].no, self.lines[-1].no


# YAML aliases a document may use. Each alias shares a node, so a few lines of nested aliases
# (the "billion laughs") describe gigabytes once a consumer walks or prints the value; real
# trace front matter uses none.
MAX_YAML_ALIASES = 32


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing documents with more than MAX_YAML_ALIASES aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(
                    f"more than {MAX_YAML_ALIASES} YAML aliases (alias expansion is refused)"
                )
        return super().compose_node(parent, index)


def safe_load(text: str) -> Any:
    """yaml.safe_load with alias expansion bounded (MAX_YAML_ALIASES); every failure is a
    yaml.YAMLError."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # PyYAML builds values (dates, numbers) with Python constructors, which raise their
        # own errors for text like `2024-03-10T99:00:00Z` (found by fuzzing): still bad YAML.
        raise yaml.YAMLError(f"unreadable value: {exc}") from None
    finally:
        loader.dispose()


def parse_yaml_mapping(lines: list[Line]) -> tuple[dict[str, Any] | None, str | None]:
    text = raw_text(lines)
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {lines[0].no + mark.line}" if mark is not None and lines else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, f"invalid YAML{where}: {problem}"
    if isinstance(data, dict):
        return {str(k): v for k, v in data.items()}, None
    return None, "YAML block is not a mapping of keys to values"


def front_matter(lines: list[Line]) -> tuple[FrontMatter | None, list[Line]]:
    """Split leading YAML front matter (tolerating a doubled opening `---`) from the body."""
    i = 0
    while i < len(lines) and not lines[i].text.strip():
        i += 1
    if i >= len(lines) or lines[i].text.strip() != "---":
        return None, lines
    start = i
    i += 1
    while i < len(lines) and (not lines[i].text.strip() or lines[i].text.strip() == "---"):
        i += 1  # doubled `---` or blank lines before the first key
    j = i
    while j < len(lines) and not is_rule(lines[j].text):
        j += 1
    if j >= len(lines):
        return None, lines
    block = lines[i:j]
    data, error = parse_yaml_mapping(block)
    return FrontMatter(data, lines[start : j + 1], error), lines[j + 1 :]


# --- headings and sections ----------------------------------------------------------------


@dataclass
class Section:
    level: int
    title: str
    heading: list[Line]  # the heading line, plus a second line when the title spilled over
    body: list[Line]  # lines up to the next heading of any level
    subtree: list[Line] = field(default_factory=list)  # up to the next heading of level <= own

    @property
    def start(self) -> int:
        return self.heading[0].no

    @property
    def end(self) -> int:
        last = strip_blank(self.subtree) or strip_blank(self.body) or self.heading
        return last[-1].no

    @property
    def all_lines(self) -> list[Line]:
        return self.heading + self.subtree


def _continues_title(text: str) -> bool:
    """A title's second line: starts lower case, or is short and not a sentence."""
    stripped = text.strip()
    if not stripped or is_rule(stripped) or _HEADING_RE.match(stripped):
        return False
    if re.match(r"^([-*+]\s|\d+[.)]\s|\*\*|>|```|\||\w[\w ]{0,30}:\s)", stripped):
        return False
    return stripped[0].islower() or (len(stripped) < 60 and stripped[-1] not in ".!?:")


def sections(lines: list[Line]) -> list[Section]:
    """Every heading outside code fences, in order. A level-1 heading whose next line continues
    it (no blank line between, see _continues_title) is a title spilled onto two lines."""
    mask = _fence_mask(lines)
    heads: list[tuple[int, int, str, int]] = []  # (index, level, title, heading line count)
    i = 0
    while i < len(lines):
        match = None if mask[i] else _HEADING_RE.match(lines[i].text)
        if match:
            level, title, count = len(match.group(1)), match.group(2).strip(), 1
            if level == 1 and i + 1 < len(lines) and _continues_title(lines[i + 1].text):
                title = f"{title} {lines[i + 1].text.strip()}"
                count = 2
            heads.append((i, level, title, count))
            i += count
            continue
        i += 1
    out = []
    for n, (index, level, title, count) in enumerate(heads):
        body_end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        tree_end = next((h[0] for h in heads[n + 1 :] if h[1] <= level), len(lines))
        out.append(
            Section(
                level,
                title,
                lines[index : index + count],
                lines[index + count : body_end],
                lines[index + count : tree_end],
            )
        )
    return out


def norm_key(key: str) -> str:
    """`Execution ID`, `**execution_id**`, `Success-Rating` -> `execution_id`, `success_rating`."""
    key = key.strip().strip("*_`:").strip()
    key = re.sub(r"[^0-9a-zA-Z]+", "_", key).strip("_").lower()
    return key


def title_key(title: str) -> str:
    """Section titles compared loosely: emoji, numbering and case ignored."""
    return norm_key(re.sub(r"^[^\w]+", "", title))


def find_section(all_sections: list[Section], *names: str, level: int | None = None):
    """First section whose normalised title starts with one of the names."""
    for wanted in (norm_key(n) for n in names):  # earlier names take precedence
        for sec in all_sections:
            if level is not None and sec.level != level:
                continue
            key = title_key(sec.title)
            if key == wanted or key.startswith(wanted + "_"):
                return sec
    return None


# --- key/value bullets --------------------------------------------------------------------


@dataclass
class KeyValue:
    key: str  # normalised
    raw_key: str
    value: str  # text after the colon (may be empty when the value is a nested list)
    items: list[str]  # nested bullet items or continuation lines
    lines: list[Line]

    @property
    def range(self) -> tuple[int, int]:
        return span(self.lines)

    def text(self) -> str:
        """The value as one text: inline value, else the nested lines joined."""
        if self.value:
            return self.value
        return "\n".join(self.items)


_KV_PATTERNS = (
    re.compile(r"^\s*[-*+]\s+\*\*(?P<k>[^*]+?):?\*\*\s*:?\s*(?P<v>.*)$"),  # - **key**: v
    re.compile(r"^\s*\*\*(?P<k>[^*]+?):?\*\*\s*:?\s*(?P<v>.*)$"),  # **Key:** v
    re.compile(r"^\s*[-*+]\s+`?(?P<k>[A-Za-z][\w .\-/]{0,40}?)`?\s*:\s*(?P<v>.*)$"),  # - key: v
)
_PLAIN_KV = re.compile(r"^(?P<k>[A-Za-z][\w .\-]{0,40}?)\s*:\s*(?P<v>.*)$")
_BULLET_RE = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(.*)$")


def _match_kv(text: str, plain: bool) -> re.Match[str] | None:
    for pattern in _KV_PATTERNS:
        match = pattern.match(text)
        if match:
            return match
    if plain and not text.startswith((" ", "\t")):
        match = _PLAIN_KV.match(text)
        if match and not match.group("v").startswith("//"):  # not a URL
            return match
    return None


def key_values(lines: list[Line], plain: bool = False) -> list[KeyValue]:
    """Bullet or bold key/value lines with the indented lines that follow them.

    With plain=True, unadorned `key: value` lines count too (headers of some templates)."""
    out: list[KeyValue] = []
    current: KeyValue | None = None
    mask = _fence_mask(lines)
    for ln, fenced in zip(lines, mask, strict=True):
        match = None if fenced else _match_kv(ln.text, plain)
        is_top = match is not None and (
            not ln.text.startswith((" ", "\t")) or current is None or current.value
        )
        if is_top and current is not None and not current.value and "**" not in ln.text:
            # `**Learnings:**` then `- Use retries: they help`: an item, not a new key
            is_top = not _BULLET_RE.match(ln.text)
        if match and is_top:
            value = match.group("v").strip()
            current = KeyValue(
                norm_key(match.group("k")), match.group("k").strip(), value, [], [ln]
            )
            out.append(current)
            continue
        if current is None:
            continue
        if not ln.text.strip():
            if current.items:
                current = None  # a blank line closes a nested list
            continue
        if not fenced and (is_rule(ln.text) or _HEADING_RE.match(ln.text)):
            current = None
            continue
        bullet = _BULLET_RE.match(ln.text)
        follows_paragraph = bool(current.lines) and not _BULLET_RE.match(current.lines[-1].text)
        under_empty_key = not current.value and (
            bullet is not None or not current.items or follows_paragraph
        )
        if ln.text.startswith((" ", "\t")) or fenced or under_empty_key:
            current.items.append(bullet.group(2).strip() if bullet else ln.text.strip())
            current.lines.append(ln)
        else:
            current = None
    return out


def kv_dict(kvs: list[KeyValue]) -> dict[str, KeyValue]:
    """First occurrence of each key wins (LLM-written files sometimes repeat a key further on)."""
    out: dict[str, KeyValue] = {}
    for kv in kvs:
        out.setdefault(kv.key, kv)
    return out


@dataclass
class Bullet:
    text: str
    lines: list[Line]


def bullets(lines: list[Line]) -> list[Bullet]:
    """Top-level list items (`-`, `*`, `1.`) with their indented continuation lines."""
    out: list[Bullet] = []
    base_indent: int | None = None
    for ln in lines:
        match = _BULLET_RE.match(ln.text)
        if match and (base_indent is None or len(match.group(1)) <= base_indent):
            base_indent = len(match.group(1))
            out.append(Bullet(match.group(2).strip(), [ln]))
        elif out and ln.text.strip() and ln.text.startswith((" ", "\t")):
            out[-1].text += "\n" + ln.text.strip()
            out[-1].lines.append(ln)
    return out


def paragraph_text(lines: list[Line]) -> str:
    return "\n".join(ln.text.rstrip() for ln in strip_blank(lines)).strip()


@dataclass
class Fence:
    lang: str
    lines: list[Line]  # content only

    @property
    def text(self) -> str:
        return raw_text(self.lines)


def fences(lines: list[Line]) -> list[Fence]:
    out, current, marker = [], None, ""
    for ln in lines:
        match = _FENCE_RE.match(ln.text)
        if current is None and match:
            marker = match.group(1)[0] * 3
            current = Fence(match.group(2).lower(), [])
        elif current is not None and ln.text.strip().startswith(marker):
            out.append(current)
            current = None
        elif current is not None:
            current.lines.append(ln)
    return out


def split_on_rules(lines: list[Line]) -> list[list[Line]]:
    """Chunks between `---` rules (outside code fences); doubled rules leave no empty chunk."""
    chunks: list[list[Line]] = [[]]
    for ln, fenced in zip(lines, _fence_mask(lines), strict=True):
        if not fenced and is_rule(ln.text):
            chunks.append([])
        else:
            chunks[-1].append(ln)
    return [strip_blank(c) for c in chunks if strip_blank(c)]


# --- template placeholders ----------------------------------------------------------------

_PLACEHOLDER_PATTERNS = (
    # [Goal Title], [Describe the goal]; not one-element lists such as [web_fetcher]
    re.compile(r"^\[(?:[A-Za-z][a-z]*(?:[ /\-][A-Za-z][\w]*)+|[A-Z][a-z]+)\]$"),
    re.compile(r"^\{\{.*\}\}$"),  # {{goal}}
    re.compile(r"^<[A-Za-z][^<>]*>$"),  # <execution id>
    re.compile(
        r"^(to be (populated|determined|filled|completed|added|defined|updated)|tbd|tbc|todo|"
        r"fill (me )?in|placeholder|\.\.\.|…|xxx+|pending population)\b.*$",
        re.IGNORECASE,
    ),
    re.compile(r"^YYYY-MM-DD.*$"),
    re.compile(r"^\$?X+(\.X+)?$"),
)


def is_placeholder(value: object) -> bool:
    """True for template filler such as "To be populated", "[Goal Title]", "{{goal}}"."""
    if not isinstance(value, str):
        return False
    text = value.strip().strip("*_`\"'").strip()
    if not text:
        return False
    return any(p.match(text) for p in _PLACEHOLDER_PATTERNS)


def contains_placeholder(value: str) -> bool:
    """A placeholder embedded in text: `# Execution State: [Goal Title]`."""
    if is_placeholder(value):
        return True
    for part in re.split(r"[:|]\s+", value):
        if is_placeholder(part):
            return True
    return bool(re.search(r"\bto be populated\b|\{\{[^}]+\}\}", value, re.IGNORECASE))


def clean_value(value: object) -> object:
    """Strip markdown decoration from a scalar value; placeholders become None."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    text = re.sub(r"^\*\*(.*)\*\*$", r"\1", text)
    text = text.strip("`").strip()
    if is_placeholder(text) or text.lower() in ("", "none", "null", "n/a", "-"):
        return None
    return text


def parse_inline_list(value: str) -> list[str]:
    """ "[a, b]", "a, b", "`a`, `b`", JSON lists -> ["a", "b"]."""
    text = value.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            data = safe_load(text)
            if isinstance(data, list):
                return [str(x).strip() for x in data if str(x).strip()]
        except yaml.YAMLError:
            text = text.strip("[]")
    return [p.strip().strip("`'\"") for p in re.split(r"[,;]", text) if p.strip().strip("`'\"")]
