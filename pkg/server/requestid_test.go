package server

import (
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRequestIDs: generated ids are 24 hex digits, unique across
// goroutines, and differ between processes (their prefixes).
func TestRequestIDs(t *testing.T) {
	hex24 := regexp.MustCompile(`^[0-9a-f]{24}$`)
	ids := newRequestIDs()
	seen := sync.Map{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5000 {
				id := ids.new()
				require.Regexp(t, hex24, id)
				_, dup := seen.LoadOrStore(id, true)
				require.False(t, dup, id)
			}
		}()
	}
	wg.Wait()
	require.NotEqual(t, ids.new()[:16], newRequestIDs().new()[:16], "each process draws its own prefix")
}

func TestRequestIDValid(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	for _, id := range []string{"", "a", "my-trace-1", "A.b_c:d-e", strings.Repeat("x", 64), strings.Repeat("x", 65),
		"with space", "tab\t", "new\nline", "ümlaut", "semi;colon", "slash/", `quote"`, "0123456789abcdef01234567"} {
		require.Equal(t, re.MatchString(id), requestIDValid(id), "%q", id)
	}
}
