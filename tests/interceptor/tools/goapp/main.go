// goapp: a Go net/http client and server for the real-traffic tests (standard library only).
//
//	goapp server PORT            JSON echo server: POST/PUT echo the body; GET /big/<n> writes n bytes
//	                             of JSON without Content-Length (Go sends it chunked); GET /small JSON.
//	goapp client HOST PORT N     N keep-alive exchanges with one http.Client (gzip handled by Go);
//	                             prints the truth as JSON: method, target, status, bodies (base64).
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

type exchange struct {
	Method   string `json:"method"`
	Target   string `json:"target"`
	Status   int    `json:"status"`
	ReqBody  string `json:"req_body"`
	RespBody string `json:"resp_body"`
}

func bigJSON(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"email":"go%d@example.com"}`, i, i)
	}
	b.WriteString("]")
	return b.Bytes()
}

func server(port string) {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" || r.Method == "PUT":
			body, _ := io.ReadAll(r.Body)
			w.Write(body)
		case strings.HasPrefix(r.URL.Path, "/big/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/big/"))
			data := bigJSON(n)
			for i := 0; i < len(data); i += 1000 { // several writes, no Content-Length: chunked
				end := i + 1000
				if end > len(data) {
					end = len(data)
				}
				w.Write(data[i:end])
				w.(http.Flusher).Flush()
			}
		default:
			w.Write([]byte(`{"ok":true,"user":"gopher@example.com"}`))
		}
	})
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		panic(err)
	}
	panic(http.Serve(ln, nil))
}

func client(host, port string, n int) {
	c := &http.Client{}
	base := "http://" + net.JoinHostPort(host, port)
	var out []exchange
	for i := 0; i < n; i++ {
		method, target, body := "GET", "/small", ""
		switch i % 3 {
		case 1:
			method, target = "POST", fmt.Sprintf("/api/users/%d", i)
			body = fmt.Sprintf(`{"name":"Go Pher %d","email":"g%d@example.com","pad":"%s"}`, i, i, strings.Repeat("z", 40*i))
		case 2:
			target = fmt.Sprintf("/big/%d", 3000+500*i)
		}
		var rb io.Reader
		if body != "" {
			rb = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, base+target, rb)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			panic(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, exchange{method, target, resp.StatusCode,
			base64.StdEncoding.EncodeToString([]byte(body)), base64.StdEncoding.EncodeToString(data)})
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func main() {
	switch os.Args[1] {
	case "server":
		server(os.Args[2])
	case "client":
		n, _ := strconv.Atoi(os.Args[4])
		client(os.Args[2], os.Args[3], n)
	}
}
