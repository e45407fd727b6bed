// Test program for the eBPF TLS source: an HTTPS echo server and a keep-alive HTTPS client.
//
//	tlsprog server CERT KEY          prints "LISTEN <port>", echoes POST bodies as application/json
//	tlsprog server-h2 CERT KEY       the same server offering HTTP/2 (ALPN h2) as well as HTTP/1.1
//	tlsprog client URL SIZES         waits for a line on stdin, then keep-alive POSTs of JSON bodies of
//	                                 the comma-separated SIZES to URL/<i>
//	tlsprog client-h2 URL SIZES      the same over HTTP/2 (ALPN h2); prints "PROTO HTTP/2.0" per response
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	switch os.Args[1] {
	case "server":
		server(os.Args[2], os.Args[3], false)
	case "server-h2":
		server(os.Args[2], os.Args[3], true)
	case "client", "client-h2":
		var sizes []int
		for _, s := range strings.Split(os.Args[3], ",") {
			n, _ := strconv.Atoi(s)
			sizes = append(sizes, n)
		}
		client(os.Args[2], sizes, os.Args[1] == "client-h2")
	}
}

func server(cert, key string, h2 bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Printf("LISTEN %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	srv := &http.Server{Handler: h, TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	if h2 {
		srv.TLSNextProto = nil // net/http's default: h2 by ALPN
	}
	panic(srv.ServeTLS(ln, cert, key))
}

// Body returns a JSON document of exactly size bytes (size >= 16).
func Body(i, size int) []byte {
	head := fmt.Sprintf(`{"i":%d,"pad":"`, i)
	return []byte(head + string(bytes.Repeat([]byte("x"), size-len(head)-2)) + `"}`)
}

func client(url string, sizes []int, h2 bool) {
	bufio.NewReader(os.Stdin).ReadString('\n')
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: h2,
		TLSNextProto:      map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	if h2 {
		tr.TLSNextProto = nil // net/http's default: h2 by ALPN
	}
	c := &http.Client{Transport: tr}
	start := time.Now()
	for i, size := range sizes {
		resp, err := c.Post(fmt.Sprintf("%s/%d", url, i), "application/json", bytes.NewReader(Body(i, size)))
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %d\n", resp.StatusCode, len(b))
		if h2 {
			fmt.Printf("PROTO %s\n", resp.Proto)
		}
	}
	tr.CloseIdleConnections()
	fmt.Printf("ELAPSED %f\n", time.Since(start).Seconds())
}
