"""Find the line of a key path in TOML text, for error messages.

``tomllib`` reports no positions for valid documents, so this does a light line scan: it tracks
``[table]`` / ``[[array]]`` headers and ``key = value`` lines, skipping multi-line strings and the
inside of multi-line arrays / inline tables. Good enough for hand-written config files; a key it
cannot place falls back to its nearest located parent.
"""

from __future__ import annotations

import re

KeyPath = tuple[str | int, ...]

_KEY_PART = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*""")


def _parse_key(text: str, pos: int = 0) -> tuple[list[str], int] | None:
    """Parse a (dotted) key starting at ``pos``; return its parts and the end position."""
    parts: list[str] = []
    while True:
        m = _KEY_PART.match(text, pos)
        if not m or m.end() == pos:
            return None
        quoted, literal, bare = m.groups()
        if bare is None and quoted is None and literal is None:
            return None
        parts.append(bare if bare is not None else (literal if literal is not None else quoted))
        pos = m.end()
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


def _bracket_delta(line: str, start: int) -> tuple[int, str | None]:
    """Net change of ``[``/``{`` nesting in ``line[start:]``, ignoring strings and comments.

    Also returns the triple-quote delimiter if a multi-line string opens and stays open.
    """
    depth = 0
    i = start
    n = len(line)
    while i < n:
        c = line[i]
        if c == "#":
            break
        if line.startswith('"""', i) or line.startswith("'''", i):
            delim = line[i : i + 3]
            end = line.find(delim, i + 3)
            if end < 0:
                return depth, delim
            i = end + 3
            continue
        if c in "\"'":
            j = i + 1
            while j < n and line[j] != c:
                j += 2 if (c == '"' and line[j] == "\\") else 1
            i = j + 1
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return depth, None


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every key path found in ``text`` to its 1-based line number.

    Array-of-tables elements get an integer index in the path: the second ``[[zones]]`` header is
    ``("zones", 1)`` and its ``name`` key ``("zones", 1, "name")``.
    """
    lines: dict[KeyPath, int] = {}
    aot_count: dict[KeyPath, int] = {}  # array-of-tables path -> number of elements seen
    current: KeyPath = ()
    depth = 0
    in_string: str | None = None

    def normalize(parts: list[str]) -> KeyPath:
        """Insert the current element index after every array-of-tables prefix."""
        out: list[str | int] = []
        for part in parts:
            out.append(part)
            key = tuple(out)
            if key in aot_count:
                out.append(aot_count[key] - 1)
        return tuple(out)

    for lineno, raw in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            end = raw.find(in_string)
            if end >= 0:
                # whatever follows the closing delimiter may still change the nesting
                d, in_string = _bracket_delta(raw, end + 3)
                depth = max(0, depth + d)
            continue
        if depth > 0:
            d, in_string = _bracket_delta(raw, 0)
            depth = max(0, depth + d)
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            parsed = _parse_key(stripped, 2)
            if parsed:
                base = normalize(parsed[0][:-1]) + (parsed[0][-1],)
                aot_count[base] = aot_count.get(base, 0) + 1
                current = base + (aot_count[base] - 1,)
                lines.setdefault(base, lineno)
                lines[current] = lineno
            continue
        if stripped.startswith("["):
            parsed = _parse_key(stripped, 1)
            if parsed:
                current = normalize(parsed[0])
                lines.setdefault(current, lineno)
            continue
        parsed = _parse_key(raw)
        if parsed is None:
            continue
        parts, pos = parsed
        if pos >= len(raw) or raw[pos] != "=":
            continue
        path = current + tuple(parts)
        for n in range(len(current) + 1, len(path) + 1):  # a.b.c = 1 also defines a and a.b here
            lines.setdefault(path[:n], lineno)
        d, in_string = _bracket_delta(raw, pos + 1)
        depth = max(0, d)
    return lines


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path`` or of its nearest located ancestor; None if nothing matches."""
    for n in range(len(path), 0, -1):
        line = lines.get(tuple(path[:n]))
        if line is not None:
            return line
    return None
