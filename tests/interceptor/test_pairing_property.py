"""Never a wrong pair: generated keep-alive conversations under capture loss, reordering, duplicates
and a second tap, scored against the generator's own ground truth (tests/interceptor/convgen.py).

The suite runs a few thousand seeded conversations; ``bench/pairing.py`` runs 100k+ the same way.
"""

from __future__ import annotations

import pytest

from interceptor.config import Config
from tests.interceptor import convgen
from tests.interceptor.packetgen import Conn, http_request, http_response, keep_all_config, replay


def _check(score: convgen.Score) -> None:
    assert score.wrong == 0, score.examples
    assert score.duplicate == 0, score.examples
    assert score.corrupt == 0, score.examples
    assert score.unaccounted <= score.exchanges // 1000, score.examples  # see convgen.score


@pytest.mark.parametrize("mode", convgen.LOSS_MODES)
def test_generated_conversations_never_pair_wrong(mode: str) -> None:
    score = convgen.run(range(300), loss_mode=mode)
    _check(score)
    assert score.exact + score.partial > 0.5 * score.exchanges  # not "safe" by pairing nothing
    if mode == "none":
        assert score.exact == score.exchanges  # nothing lost: every exchange exact


def test_generated_conversations_two_taps_one_pair_each() -> None:
    score = convgen.run(range(1000, 1300), two_taps=True)
    _check(score)
    lossless = convgen.run(range(2000, 2100), two_taps=True, loss_mode="none")
    assert lossless.exact == lossless.exchanges and lossless.duplicate == 0


def test_generated_pipelined_conversations() -> None:
    score = convgen.Score()
    for seed in range(3000, 3200):
        truth = convgen.tap_view(convgen.conversation(seed, pipelined=True), seed)
        score.add(convgen.score_truth(truth))
    _check(score)


def test_drop_mode_emits_no_partial_pair() -> None:
    cfg = Config()
    cfg.filters.keep_all = True
    cfg.core.on_gap = "drop"
    score = convgen.run(range(5000, 5200), config=cfg, loss_mode="both")
    _check(score)
    assert score.partial == 0


# -- the measured failures, one by one ------------------------------------------------------
def _exchange(conn: Conn, i: int, method: str = "POST") -> tuple[list, list]:
    req = conn.request(http_request(method=method, target=f"/r/{i}", body=b'{"i":%d}' % i if method != "HEAD" else b"",
                                    headers=[("X-Id", str(i))]))
    resp = conn.response(http_response(body=b'{"o":%d}' % i, headers=[("X-Id", str(i))]) if method != "HEAD" else
                         b"HTTP/1.1 200 OK\r\nX-Id: %d\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n" % i)
    return req, resp


def test_lost_request_head_and_previous_response_do_not_shift_pairing() -> None:
    """Replay finding: the head of one request and the previous response both missing shifted the
    pairing by one for the next 7 exchanges."""
    conn = Conn().handshake()
    sent = [_exchange(conn, i, "HEAD" if i == 5 else "POST") for i in range(12)]
    lost = {id(sent[3][1][0]), id(sent[4][0][0])}  # response 3 and request 4
    frames = [f for f in conn.close().frames if id(f) not in lost]
    pairs, c = replay(frames, config=keep_all_config())
    got = [(p.request.target, p.response.header("x-id")) for p in pairs]
    assert all(t == f"/r/{x}" for t, x in got), got
    assert [t for t, _ in got] == [f"/r/{i}" for i in (0, 1, 2, 5, 6, 7, 8, 9, 10, 11)]
    assert c.dropped("ambiguous_after_loss") + c.dropped("response_without_request") >= 1


def test_burst_of_kernel_drops_never_pairs_a_later_response() -> None:
    """Live finding: a request paired with the response of an exchange 8 later after drops."""
    conn = Conn().handshake()
    sent = [_exchange(conn, i) for i in range(20)]
    lost = {id(f) for i in range(6, 14) for f in (sent[i][1] if i != 6 else []) + (sent[i][0] if i != 6 else [])}
    lost.add(id(sent[6][1][0]))  # request 6 survives, its response and 7..13 do not
    frames = [f for f in conn.close().frames if id(f) not in lost]
    pairs, c = replay(frames, config=keep_all_config())
    assert all(p.request.target == "/r/" + p.response.header("x-id") for p in pairs)
    # Response 13's last segment was lost too, so nothing shows the server had exactly request
    # 14's predecessors when it answered: 14 is counted, and 15 (after response 14) re-anchors.
    assert [p.request.target for p in pairs] == [f"/r/{i}" for i in (0, 1, 2, 3, 4, 5, 15, 16, 17, 18, 19)]
    assert c.dropped("ambiguous_after_loss") >= 1


def _two_taps(n: int, lag: float, reset: bool) -> tuple[list, object]:
    """``n`` exchanges seen by two taps, the second ``lag`` seconds behind; closed by FIN or RST."""
    conn = Conn().handshake()
    for i in range(n):
        _exchange(conn, i)
    frames = (conn.reset() if reset else conn.close()).frames
    return replay(sorted(frames + [(ts + lag, f) for ts, f in frames], key=lambda r: r[0]), config=keep_all_config())


@pytest.mark.parametrize("reset", [False, True])
@pytest.mark.parametrize("lag", [0.0005, 0.05, 1.5])
def test_second_tap_lagging_past_fin_yields_no_duplicates(lag: float, reset: bool) -> None:
    """Two taps on one connection: the lagging tap's copies of the last exchanges arrive after the
    first tap saw the FINs or the RST (the flow is over): they are recognised, not paired again."""
    pairs, c = _two_taps(5, lag, reset)
    assert [p.request.target for p in pairs] == [f"/r/{i}" for i in range(5)]
    assert c.get("tcp.after_close_segments") > 0 or lag < 0.001  # (a short lag: still the open flow)
    assert c.drops() == {}


def test_new_connection_on_the_same_addresses_is_followed() -> None:
    first = Conn(cseq=1000, sseq=5000).handshake()
    _exchange(first, 0)
    second = Conn(cseq=900_000_000, sseq=77_000, ts=first.ts + 0.5).handshake()
    _exchange(second, 1)
    pairs, _ = replay(first.close().frames + second.close().frames, config=keep_all_config())
    assert [p.request.target for p in pairs] == ["/r/0", "/r/1"]


@pytest.mark.parametrize("seed", [1055537, 1063411])
def test_found_by_the_bench(seed: int) -> None:
    """bench/pairing.py once found these: the second tap's copy of the SYN arrived after the first
    tap (which had lost the handshake) began the flow mid-way; it was taken for the stream's start,
    and a pipelined burst's second request passed for the connection's first."""
    _check(convgen.score_truth(convgen.build(seed)))
