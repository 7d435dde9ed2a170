// Command baseline is a bare net/http server answering a small JSON body:
// the yardstick zan's HTTP figures are quoted against (same machine, same
// run, same load generator).
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	flag.Parse()
	body := []byte(`{"liked":true,"changed":true,"count":1}`)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
