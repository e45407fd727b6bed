#!/usr/bin/env bash
# HTTP/2 and gRPC real-traffic tests: the Go gRPC program (tests/interceptor/tools/grpcapp, google.golang.org/grpc
# from the Go module proxy). Built once and cached by source hash in /var/cache/privacy-sensor/realtraffic, with
# the module downloads (GOMODCACHE) kept there too, so a later run downloads and compiles nothing. nghttp/nghttpd
# come from http2.apt, grpcio from the test extras. Optional: the tests that need it skip without Go.
set -uo pipefail
if [ -x /usr/local/go/bin/go ] || command -v go >/dev/null; then
  python3 -c "from tests.interceptor.tools.h2traffic import grpcapp_binary; grpcapp_binary()" \
    || echo "setup http2: grpcapp build failed (the gRPC tests will build or skip)" >&2
fi
exit 0
