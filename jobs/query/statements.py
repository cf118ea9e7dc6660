"""Split a SQL script into statements: `;` ends one, except inside quotes or comments."""

from __future__ import annotations


def split_statements(text: str) -> list[str]:
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in ("'", '"', "`"):
            end = i + 1
            while end < n:
                if text[end] == ch:
                    if end + 1 < n and text[end + 1] == ch:  # doubled quote
                        end += 2
                        continue
                    break
                if text[end] == "\\" and ch != "`":
                    end += 1
                end += 1
            current.append(text[i : end + 1])
            i = end + 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            i = end  # comments are dropped: a statement of only comments is empty
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            current.append(" ")
        elif ch == ";":
            statements.append("".join(current))
            current = []
            i += 1
        else:
            current.append(ch)
            i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]
