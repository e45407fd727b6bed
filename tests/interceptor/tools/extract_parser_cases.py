"""Extract the raw HTTP messages of nodejs/llhttp's markdown test suite (MIT licence) into
tests/interceptor/data/llhttp_cases.json: the conformance test's data (tests/interceptor/test_http_conformance.py).

Only the messages and the parser's verdict are taken (which messages completed, with their method,
target, status, fields and body, and whether the parser stopped with an error), not any code. Cases
run in a lenient mode, with pausing, or on a parser type we do not have are left out.

    python3 -m tests.interceptor.tools.extract_parser_cases /path/to/llhttp-checkout [/path/to/http-parser-checkout]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "llhttp_cases.json"
SPAN = re.compile(r'^off=(\d+) len=(\d+) span\[(\w+)\]=(.*)$')
META = re.compile(r"<!--\s*meta=(\{[^}\n]*\})\s*-->")


def message_bytes(block: str) -> bytes:
    """The markdown test format's input rules: lines end with CRLF; \\r \\n \\t \\f, \\xHH and octal
    escapes stand for characters; a backslash before a line end joins the lines. The suite feeds the
    resulting text as UTF-8 (its span offsets count those bytes: \\xff is two bytes)."""
    text = block[:-1] if block.endswith("\n") else block
    if "${" in text:
        raise ValueError("inline code")
    text = re.sub(r"\\(\r\n|\r|\n)", "", text)
    text = re.sub(r"\r\n|\r|\n", "\r\n", text)
    text = text.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t").replace("\\f", "\f")
    text = re.sub(r"\\x([0-9a-fA-F]+)", lambda m: chr(int(m[1], 16)), text)
    text = re.sub(r"\\([0-7]{1,3})", lambda m: chr(int(m[1], 8)), text)
    return text.encode()


def verdict(log: str, raw: bytes) -> dict:
    """Which messages completed, their parts cut from the raw bytes by the spans' offsets (a field
    value split by folding spans from its first byte to its last), and the error, if any."""
    messages: list[dict] = []
    cur: dict | None = None
    spans: dict[str, list[int]] = {}  # kind -> [start, end] of the part being collected
    last_kind = ""
    error = None

    def fresh() -> dict:
        return {"method": "", "url": "", "status": "", "status_code": "", "headers": [], "body": ""}

    def text(start: int, end: int) -> str:
        return raw[start:end].decode("latin-1")

    for line in log.splitlines():
        line = line.strip()
        m = SPAN.match(line)
        if m:
            start, end, kind = int(m[1]), int(m[1]) + int(m[2]), m[3]
            if cur is None:
                cur = fresh()
            if kind == "body":
                cur["body"] += text(start, end)
            elif kind in ("method", "url", "status"):
                first = spans.setdefault(kind, [start, end])
                first[1] = end
                cur[kind] = text(first[0], end)
            elif kind in ("header_field", "header_value"):
                if kind == "header_field" and last_kind != "header_field":
                    cur["headers"].append(["", ""])
                    spans.pop("header_field", None)
                    spans.pop("header_value", None)
                if not cur["headers"]:
                    cur["headers"].append(["", ""])
                first = spans.setdefault(kind, [start, end])
                first[1] = end
                cur["headers"][-1][0 if kind == "header_field" else 1] = text(first[0], end)
            last_kind = kind
            continue
        if "message begin" in line:
            cur, spans, last_kind = fresh(), {}, ""
        elif "headers complete" in line and cur is not None:
            code = re.search(r" status=(\d+)", line)
            cur["status_code"] = code[1] if code else ""
        elif "message complete" in line and cur is not None:
            messages.append(cur)
            cur = None
        elif " error code=" in line:
            error = line.split(" error ", 1)[1]
    return {"messages": messages, "error": error, "pending": cur is not None}


def cases(root: Path) -> list[dict]:
    out = []
    for md in sorted((root / "test").glob("re*/*.md")):
        if md.stem.startswith("lenient") or md.stem in ("pausing", "finish"):
            continue
        text = md.read_text()
        for block_start in (m.end() for m in re.finditer(r"^```http\n", text, re.M)):
            block_end = text.index("```", block_start)
            log_start = text.index("```log\n", block_end + 3) + len("```log\n")
            log = text[log_start : text.index("```", log_start)]
            before = text[:block_start]
            title = re.findall(r"^#+ (.+)$", before, re.M)[-1]
            meta = json.loads(META.findall(before)[-1])
            block = text[block_start:block_end]
            if meta.get("type") not in ("request", "response") or meta.get("pause") or meta.get("skip") \
                    or meta.get("skipBody"):
                continue
            try:
                raw = message_bytes(block)
            except ValueError:
                continue
            v = verdict(log, raw)
            outcome = "invalid" if v["error"] else ("valid" if v["messages"] and not v["pending"] else "incomplete")
            out.append({"source": f"llhttp test/{md.parent.name}/{md.name}", "title": title, "type": meta["type"],
                        "raw": raw.decode("latin-1"), "outcome": outcome, "error": v["error"],
                        "messages": v["messages"]})
    return out


C_CALL = re.compile(r'test_simple\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+),\s*(HPE_\w+)\s*\)')
C_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def c_bytes(literal: str) -> bytes:
    """A C string literal's bytes: \\r \\n \\t \\\\ \\" and octal / hex escapes."""
    simple = {"r": 13, "n": 10, "t": 9, "\\": 92, '"': 34, "'": 39, "0": 0}
    out = bytearray()
    i = 0
    while i < len(literal):
        ch = literal[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        m = re.match(r"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)", literal[i:])
        assert m is not None
        esc = m[1]
        if esc[0] == "x":
            out.append(int(esc[1:], 16))
        elif esc[0].isdigit():
            out.append(int(esc, 8))
        else:
            out.append(simple[esc])
        i += m.end()
    return bytes(out)


def http_parser_cases(root: Path) -> list[dict]:
    """The requests nodejs/http-parser's test.c refuses with ``test_simple(raw, HPE_<error>)``."""
    text = (root / "test.c").read_text()
    out = []
    for m in C_CALL.finditer(text):
        if m[2] == "HPE_OK":
            continue  # accepted but incomplete: nothing to compare
        raw = b"".join(c_bytes(s) for s in C_STRING.findall(m[1]))
        out.append({"source": "http-parser test.c", "title": f"test_simple {m[2]} #{len(out) + 1}", "type": "request",
                    "raw": raw.decode("latin-1"), "outcome": "invalid", "error": f'code={m[2]} reason="{m[2]}"',
                    "messages": []})
    return out


def main() -> None:
    root = Path(sys.argv[1])
    rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    data = {"origin": "https://github.com/nodejs/llhttp (MIT licence), test/*.md", "revision": rev,
            "cases": cases(root)}
    if len(sys.argv) > 2:  # a nodejs/http-parser checkout (MIT licence): its refused requests
        hp = Path(sys.argv[2])
        hp_rev = subprocess.run(["git", "-C", str(hp), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        data["origin"] += "; https://github.com/nodejs/http-parser (MIT licence), test.c"
        data["revision"] += f"; http-parser {hp_rev}"
        data["cases"] += http_parser_cases(hp)
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=True) + "\n")
    by = {}
    for c in data["cases"]:
        by[c["outcome"]] = by.get(c["outcome"], 0) + 1
    print(f"{len(data['cases'])} cases {by} -> {OUT}")


if __name__ == "__main__":
    main()
