// Command healthsvc is the smallest service an SMP image can hold: it serves
// GET /health with the version and commit baked in by smpctl build's
// ldflags, on 127.0.0.1:$PORT. The image tests build, push, pull, extract
// and run it.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"
)

var (
	version = "dev"
	commit  = "none"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok", "version": version, "commit": commit})
	})
	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
