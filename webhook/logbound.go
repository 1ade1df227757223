package webhook

import (
	"context"
	"encoding/json"
	"log"
	"log/slog"
	"reflect"
	"strings"
	"sync"

	"golang.org/x/time/rate"

	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// maxLogFieldBytes bounds each field of a log line: a request's fields
// (names, kinds, errors quoting its body) are the caller's to choose, and a
// 6 MiB review must not make a 6 MiB log line (see admission.BoundText).
const maxLogFieldBytes = admission.MaxTextBytes

// boundFields wraps a log handler so that no string, error, string-typed or
// JSON value it writes is longer than maxLogFieldBytes: a longer one is cut
// and says how many bytes were left out.
func boundFields(h slog.Handler) slog.Handler {
	if _, ok := h.(boundedHandler); ok {
		return h
	}
	return boundedHandler{h}
}

type boundedHandler struct{ next slog.Handler }

func (h boundedHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h boundedHandler) Handle(ctx context.Context, r slog.Record) error {
	bounded := slog.NewRecord(r.Time, r.Level, admission.BoundText(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		bounded.AddAttrs(boundAttr(a))
		return true
	})
	return h.next.Handle(ctx, bounded)
}

func (h boundedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	bounded := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		bounded[i] = boundAttr(a)
	}
	return boundedHandler{h.next.WithAttrs(bounded)}
}

func (h boundedHandler) WithGroup(name string) slog.Handler {
	return boundedHandler{h.next.WithGroup(name)}
}

func boundAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, admission.BoundText(v.String()))
	case slog.KindGroup:
		group := v.Group()
		bounded := make([]any, len(group))
		for i, g := range group {
			bounded[i] = boundAttr(g)
		}
		return slog.Group(a.Key, bounded...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, admission.BoundText(x.Error()))
		case json.Marshaler:
			if data, err := x.MarshalJSON(); err == nil && len(data) > maxLogFieldBytes {
				return slog.String(a.Key, admission.BoundText(string(data)))
			}
		default:
			// Named string types: the request's operation, uid, user.
			if rv := reflect.ValueOf(x); rv.Kind() == reflect.String {
				return slog.String(a.Key, admission.BoundText(rv.String()))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// Lines of the HTTP servers' own error log (refused TLS handshakes, bad
// requests) are passed at most serverErrorsPerSecond a second, after a burst
// of serverErrorBurst: any caller that reaches the port can cause them, and a
// client failing handshakes in a loop made 1.7 MB of log. The next line
// logged says how many were left out.
const (
	serverErrorsPerSecond = 1
	serverErrorBurst      = 10
)

// rateLimitedLog is the io.Writer of a *log.Logger for http.Server.ErrorLog.
type rateLimitedLog struct {
	logger  *slog.Logger
	mu      sync.Mutex
	limiter *rate.Limiter
	dropped int
}

func newServerErrorLog(logger *slog.Logger) *log.Logger {
	return log.New(&rateLimitedLog{logger: logger, limiter: rate.NewLimiter(serverErrorsPerSecond, serverErrorBurst)}, "", 0)
}

func (l *rateLimitedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	allowed, dropped := l.limiter.Allow(), l.dropped
	if allowed {
		l.dropped = 0
	} else {
		l.dropped++
	}
	l.mu.Unlock()
	if allowed {
		var attrs []any
		if dropped > 0 {
			attrs = append(attrs, "notLogged", dropped)
		}
		l.logger.Warn(strings.TrimSpace(string(p)), attrs...)
	}
	return len(p), nil
}
