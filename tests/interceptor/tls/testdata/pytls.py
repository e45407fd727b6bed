"""Test program for the eBPF TLS source (run as its own process, so it is traced).

    pytls.py server CERT KEY            HTTPS echo server on 127.0.0.1:0; prints "LISTEN <port>"
    pytls.py client PORT SIZES          waits for a line on stdin, THEN imports ssl (late), and sends
                                        keep-alive POSTs /py/<i> of JSON bodies of the comma-separated
                                        SIZES with http.client ("early" as 4th argument:
                                        import ssl before waiting); a size 0 is a pause: the
                                        client waits for another line on stdin there
    pytls.py requests PORT SIZES        the same POSTs (/rq/<i>) with the requests library
"""

import sys
import time


def body(i: int, size: int) -> bytes:
    head = f'{{"i":{i},"pad":"'
    return (head + "y" * (size - len(head) - 2) + '"}').encode()


def server(cert: str, key: str) -> None:
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # head and body are two writes: no 40 ms delayed-ACK stall

        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    print("LISTEN", httpd.server_address[1], flush=True)
    httpd.serve_forever()


def client(port: int, sizes: list[int], early: bool = False) -> None:
    if early:
        import ssl  # noqa: F401  (libssl mapped before the wait)
    sys.stdin.readline()
    import http.client  # noqa: F401  (imports ssl: libssl is mapped only now, unless early)
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    start = time.perf_counter()
    i = 0
    for size in sizes:
        if size == 0:  # a pause mid-connection: wait for another line on stdin
            sys.stdin.readline()
            continue
        conn.request("POST", f"/py/{i}", body=body(i, size), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        print(resp.status, len(resp.read()), flush=True)
        i += 1
    conn.close()
    print("ELAPSED", time.perf_counter() - start, flush=True)


def requests_client(port: int, sizes: list[int]) -> None:
    """The same POSTs with the requests library (urllib3 over ssl), on one keep-alive session."""
    sys.stdin.readline()
    import requests
    import urllib3

    urllib3.disable_warnings()
    session = requests.Session()
    for i, size in enumerate(sizes):
        resp = session.post(f"https://127.0.0.1:{port}/rq/{i}", data=body(i, size),
                            headers={"Content-Type": "application/json"}, verify=False, timeout=30)
        print(resp.status_code, len(resp.content), flush=True)
    session.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "requests":
        requests_client(int(sys.argv[2]), [int(x) for x in sys.argv[3].split(",")])
    else:
        client(int(sys.argv[2]), [int(x) for x in sys.argv[3].split(",")], sys.argv[4:] == ["early"])
