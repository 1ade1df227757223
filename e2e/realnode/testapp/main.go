// Command testapp is the real node's test workload: an HTTP server on :8080
// that answers every request with 200 and its pod's name, and exits at once
// on SIGTERM, as many servers do (the worst honest case for a rollout:
// anything still routed to it is refused from that moment).
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	host, _ := os.Hostname()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		log.Printf("%s: got %v, exiting", host, <-sig)
		os.Exit(0)
	}()
	log.Printf("%s: listening on :8080", host)
	log.Fatal(http.ListenAndServe(":8080", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, host)
	})))
}
