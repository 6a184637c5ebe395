package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Check is one readiness dependency (database, blob store, cache).
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// readyz answers 200 when every check passes within its timeout, else 503
// naming the failing dependencies. The error text goes to the log (onFail,
// with the request's context), not the response.
func readyz(checks []Check, timeout time.Duration, onFail func(ctx context.Context, name string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		var mu sync.Mutex
		failed := map[string]string{}
		var wg sync.WaitGroup
		for _, c := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Ping(ctx); err != nil {
					onFail(r.Context(), c.Name, err)
					mu.Lock()
					failed[c.Name] = "unavailable"
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		status, body := http.StatusOK, map[string]any{"status": "ok"}
		if len(failed) > 0 {
			names := make([]string, 0, len(failed))
			for n := range failed {
				names = append(names, n)
			}
			sort.Strings(names)
			status, body = http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failing": names}
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}
