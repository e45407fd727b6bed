// The demo's Go TLS pod: an identity-verification API served over HTTPS by Go's own crypto/tls (no
// OpenSSL: the agent reads it through its eBPF uprobes on the Go binary's crypto/tls functions).
//
//	kyc PORT CERT KEY    POST /v1/verifications (JSON in, JSON out)
package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
)

type verification struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Document string `json:"document_number"`
}

func verify(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	}
	str := func(k string) string { s, _ := in[k].(string); return s }
	out := verification{ID: fmt.Sprintf("ver_%d", len(body)), Status: "verified", Name: str("name"),
		Email: str("email"), Document: str("passport_number")}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func main() {
	if len(os.Args) != 5 || os.Args[1] != "kyc" {
		fmt.Fprintln(os.Stderr, "usage: kyc PORT CERT KEY")
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/verifications", verify)
	srv := &http.Server{Addr: ":" + os.Args[2], Handler: mux,
		// HTTP/1.1 only: the demo's client speaks it, and the map reads the same either way
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	if err := srv.ListenAndServeTLS(os.Args[3], os.Args[4]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
