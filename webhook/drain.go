package webhook

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// idleSweepInterval is how long a connection must stay idle while the server
// drains before it is closed. Closing a connection the instant it turns idle
// would race the caller's next request on it, which then fails; a caller that
// has sent nothing for this long has most likely moved on.
const idleSweepInterval = time.Second

// connections follows the webhook server's connections (http.Server.ConnState),
// so that a draining server can close the ones that stay idle.
type connections struct {
	mu    sync.Mutex
	conns map[net.Conn]*connection
}

type connection struct {
	idle     bool
	requests uint64 // requests started on it so far
}

func (c *connections) track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conns == nil {
		c.conns = map[net.Conn]*connection{}
	}
	switch state {
	case http.StateNew:
		c.conns[conn] = &connection{}
	case http.StateActive:
		if cn := c.conns[conn]; cn != nil {
			cn.idle = false
			cn.requests++
		}
	case http.StateIdle:
		if cn := c.conns[conn]; cn != nil {
			cn.idle = true
		}
	case http.StateHijacked, http.StateClosed:
		delete(c.conns, conn)
	}
}

// closeIdle closes the connections that were idle in the previous sweep and
// have started no request since, and returns what this sweep saw idle.
func (c *connections) closeIdle(previous map[net.Conn]uint64) map[net.Conn]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	idle := map[net.Conn]uint64{}
	for conn, cn := range c.conns {
		if !cn.idle {
			continue
		}
		if requests, ok := previous[conn]; ok && requests == cn.requests {
			conn.Close()
			continue
		}
		idle[conn] = cn.requests
	}
	return idle
}

// closeWhileDraining answers every request with Connection: close once
// draining is set, so a caller opens its next connection, which the Service
// sends to another replica, instead of reusing one to a replica about to stop.
func closeWhileDraining(draining *atomic.Bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
