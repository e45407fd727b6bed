"""Noise filters: which pairs are worth sending downstream (Soveren's defaults, all configurable).

``PairFilter.reason(pair)`` returns the drop reason, or None to keep the pair. ``keep_all`` turns
off the content-type, status, URL and header filters (the size bounds live in the pipeline).

Content types are compared on the media type only (parameters such as ``charset`` ignored, case
folded). With ``json_suffix`` on (default) structured-syntax types ``application/*+json`` count as
JSON: problem+json and vnd.api+json bodies carry the same kind of data.
"""

from __future__ import annotations

from interceptor.config import ConfigError, FilterConfig
from interceptor.pairs import Message, Pair


def media_type(content_type: str) -> str:
    """``Application/JSON; charset=utf-8`` → ``application/json``."""
    return content_type.split(";", 1)[0].strip().lower()


def url_path(target: str) -> str:
    """The path of a request target (origin form or absolute form), without the query."""
    if "://" in target:
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        target = rest[slash:] if slash >= 0 else "/"
    query = target.find("?")
    if query >= 0:
        target = target[:query]
    fragment = target.find("#")
    if fragment >= 0:
        target = target[:fragment]
    return target or "/"


def content_type(message: Message) -> str:
    """``message.content_type`` (read here from the index: compiled, this skips two Python-level
    calls of the pair model per message)."""
    index = message.index
    value = index.get("content-type") if index is not None else message.header("content-type")
    return value or ""


MAX_SEEN = 256
STATUS_TABLE = 1000  # statuses below this are looked up in a table made at construction


class PairFilter:
    def __init__(self, cfg: FilterConfig) -> None:
        self.keep_all = cfg.keep_all
        self.content_types = {media_type(t) for t in cfg.content_types}
        self.json_suffix = cfg.json_suffix
        self.user_agents = tuple(p.lower() for p in cfg.drop_user_agent_prefixes)
        self.request_headers = {h.lower() for h in cfg.drop_request_headers}
        self.header_names = sorted(self.request_headers)  # (a list: looked up natively one by one)
        self.statuses, self.status_classes = _statuses(cfg.drop_statuses)
        # Per status, 1 if dropped (a byte read natively: two set lookups of boxed ints cost ~20x).
        self.status_drops = bytes(self._status_dropped(s) for s in range(STATUS_TABLE))
        self.urls = {u.rstrip("/") or "/" for u in cfg.drop_urls}
        # A target whose path is one of ``urls`` starts with it (without "://", its path is a prefix
        # of it; an empty one is "/"): one C-level startswith rules most out before a path is cut.
        self.url_prefixes = tuple(sorted(self.urls))
        self.seen: dict[str, bool] = {}  # Content-Type values met -> wanted (at most MAX_SEEN)
        self.agents: dict[str, bool] = {}  # User-Agent values met -> dropped (at most MAX_SEEN)

    def _status_dropped(self, status: int) -> bool:
        return status in self.statuses or status // 100 in self.status_classes

    def reason(self, pair: Pair) -> str | None:
        if self.keep_all:
            return None
        status = pair.response.status
        if self.status_drops[status] if 0 <= status < STATUS_TABLE else self._status_dropped(status):
            return "filtered_status"
        request = pair.request
        if self.urls:
            target = request.target
            if not target or "://" in target or target.startswith(self.url_prefixes):
                path = url_path(target).rstrip("/") or "/"
                if path in self.urls:
                    return "filtered_url"
        index = request.index if request.index is not None else {n.lower(): v for n, v in reversed(request.headers)}
        for name in self.header_names:
            if name in index:
                return "filtered_header"
        agent = index.get("user-agent")
        if agent is not None and self.agent_dropped(agent):
            return "filtered_user_agent"
        if not (self.wanted(content_type(request)) or self.wanted(content_type(pair.response))):
            return "filtered_content_type"
        return None

    def agent_dropped(self, agent: str) -> bool:
        known = self.agents.get(agent)  # (user agents repeat: the answer is kept, bounded)
        if known is not None:
            return known
        dropped = agent.lower().startswith(self.user_agents)
        if len(self.agents) >= MAX_SEEN:
            self.agents.clear()
        self.agents[agent] = dropped
        return dropped

    def wanted(self, content_type: str) -> bool:
        known = self.seen.get(content_type)  # (content types repeat: the answer is kept, bounded)
        if known is not None:
            return known
        mt = media_type(content_type)
        wanted = mt in self.content_types or (
            self.json_suffix and mt.endswith("+json") and "application/json" in self.content_types)
        if len(self.seen) >= MAX_SEEN:
            self.seen.clear()
        self.seen[content_type] = wanted
        return wanted


def _statuses(specs: list[str]) -> tuple[set[int], set[int]]:
    """'301' → exact status; '4xx' → the whole class."""
    exact: set[int] = set()
    classes: set[int] = set()
    for spec in specs:
        s = spec.strip().lower()
        if len(s) == 3 and s.endswith("xx") and s[0].isdigit():
            classes.add(int(s[0]))
        elif s.isdigit():
            exact.add(int(s))
        else:
            raise ConfigError(f"filters.drop_statuses: {spec!r} is neither a status (301) nor a class (4xx)")
    return exact, classes
