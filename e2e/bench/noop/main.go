// Command noop is a floor of the benchmarks: a minimal HTTPS server with
// kubewebhook's no-op mutating and validating webhooks on gracekeeper's
// paths (the load benchmark's floor), or with --minimal-patch, the minimal
// webhook of e2e/bench.MinimalMux (the floors through the API server); and
// GET /readyz. Like gracekeeper it speaks HTTP/1.1 only. It stops on
// SIGTERM or SIGINT.
//
//	noop --tls-dir DIR --listen 127.0.0.1:PORT [--minimal-patch FILE]
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gracekeeper/gracekeeper/e2e/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "noop:", err)
		os.Exit(1)
	}
}

func run() error {
	tlsDir := flag.String("tls-dir", "", "directory holding tls.crt and tls.key")
	listen := flag.String("listen", "127.0.0.1:8443", "HTTPS address")
	minimalPatch := flag.String("minimal-patch", "", "serve the minimal webhook, /mutate/patch answering the JSON patch in this file")
	flag.Parse()
	cert, err := tls.LoadX509KeyPair(filepath.Join(*tlsDir, "tls.crt"), filepath.Join(*tlsDir, "tls.key"))
	if err != nil {
		return fmt.Errorf("load serving certificate from %s: %w", *tlsDir, err)
	}
	var mux http.Handler
	if *minimalPatch != "" {
		patch, err := os.ReadFile(*minimalPatch)
		if err != nil {
			return fmt.Errorf("read the minimal webhook's patch: %w", err)
		}
		mux = bench.MinimalMux(patch)
	} else if mux, err = bench.NoopMux(); err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           mux,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 5 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServeTLS("", "") }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
