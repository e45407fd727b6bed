// goapp: a Go net/http client and server for the real-traffic tests (standard library only).
//
//	goapp server PORT            JSON echo server: POST/PUT echo the body; GET /big/<n> writes n bytes
//	                             of JSON without Content-Length (Go sends it chunked); GET /small JSON.
//	goapp client HOST PORT N     N keep-alive exchanges with one http.Client (gzip handled by Go);
//	                             prints the truth as JSON: method, target, status, bodies (base64).
//	goapp load HOST PORT C SECS  C keep-alive connections POSTing ~1 KB JSON for SECS seconds, each
//	                             exchange with an id (conn-seq) in the target, an X-Id header and the
//	                             body; prints one line per exchange completed: the id (the truth).
package main

import (
	"bufio"
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
	"sync"
	"time"
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
			if id := r.Header.Get("X-Id"); id != "" {
				w.Header().Set("X-Id", id)
			}
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

func load(host, port string, conns int, secs float64) {
	base := "http://" + net.JoinHostPort(host, port)
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	pad := strings.Repeat("p", 900)
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
			for k := 0; time.Now().Before(deadline); k++ {
				id := fmt.Sprintf("%d-%d", c, k)
				body := fmt.Sprintf(`{"id":"%s","email":"u%s@example.com","pad":"%s"}`, id, id, pad)
				req, _ := http.NewRequest("POST", base+"/o/"+id, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Id", id)
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(data) != body || resp.Header.Get("X-Id") != id {
					panic("server answered another exchange: " + id)
				}
				mu.Lock()
				fmt.Fprintln(out, id)
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	out.Flush()
}

func main() {
	switch os.Args[1] {
	case "server":
		server(os.Args[2])
	case "client":
		n, _ := strconv.Atoi(os.Args[4])
		client(os.Args[2], os.Args[3], n)
	case "load":
		c, _ := strconv.Atoi(os.Args[4])
		secs, _ := strconv.ParseFloat(os.Args[5], 64)
		load(os.Args[2], os.Args[3], c, secs)
	}
}
