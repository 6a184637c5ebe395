package buf

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// The read path (resolving a reference, a graph, a download's plan) keeps
// what it reads of the buf_* tables in memory, tagged with the generation
// of buf's data: every write of those tables bumps the generation in its
// transaction (genScope), and an entry read at an older generation is never
// served. The generation itself comes from the metadata store, which keeps
// it in memory while its change feed is connected (a change made by this
// process is seen at commit; one made elsewhere within the feed's delay)
// and reads it from the database otherwise. Authorization is never cached
// here: each request still decides it.
//
// Entries are values (records, commits, graph shapes) that callers must not
// modify. The cache holds at most maxReadEntries and starts over when full.

// genScope is the generation scope of buf's modules, labels and commits.
const genScope = "buf"

// maxReadEntries bounds the entries of the read cache.
const maxReadEntries = 20000

// readCache is the generation-tagged cache of the read path.
type readCache struct {
	mu      sync.RWMutex
	gen     int64
	entries map[string]any
}

func newReadCache() *readCache { return &readCache{entries: map[string]any{}} }

// cachedRead returns the value under key at the current generation, loading
// (and keeping) it when absent. A NotFound answer is kept as a value is;
// other errors never are. When the generation cannot be read, load answers alone.
func cachedRead[T any](ctx context.Context, s *Service, key string, load func() (T, error)) (T, error) {
	gen, err := s.meta.Generation(ctx, genScope)
	if err != nil {
		return load()
	}
	c := s.reads
	c.mu.RLock()
	v, ok := c.entries[key]
	hit := ok && c.gen == gen
	c.mu.RUnlock()
	if hit {
		r := v.(readResult[T])
		return r.v, r.err
	}
	// The generation was read before the rows: a write committed in between
	// has bumped it past gen, so what is kept under gen is never older than gen.
	out, err := load()
	if err != nil && !errors.Is(err, errs.ErrNotFound) {
		return out, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen > c.gen || len(c.entries) >= maxReadEntries {
		c.gen, c.entries = max(gen, c.gen), map[string]any{}
	}
	if gen == c.gen {
		c.entries[key] = readResult[T]{out, err}
	}
	return out, err
}

// readResult is a kept answer.
type readResult[T any] struct {
	v   T
	err error
}

// changed bumps buf's generation in tx: every write of the buf_* tables
// calls it.
func (s *Service) changed(ctx context.Context, tx *sqldb.Tx) error {
	_, err := s.meta.BumpGeneration(ctx, tx, genScope)
	return err
}

// readKey joins the parts of a cache key.
func readKey(parts ...string) string { return strings.Join(parts, "\x00") }

// labelAndCommit is a label with its commit.
type labelAndCommit struct {
	l Label
	c Commit
}

func (s *Service) cachedModuleByName(ctx context.Context, ownerID, name string) (ModuleRecord, error) {
	return cachedRead(ctx, s, readKey("mn", ownerID, name), func() (ModuleRecord, error) { return s.st.moduleByName(ctx, ownerID, name) })
}

func (s *Service) cachedModuleByID(ctx context.Context, id string) (ModuleRecord, error) {
	return cachedRead(ctx, s, readKey("mi", id), func() (ModuleRecord, error) { return s.st.moduleByID(ctx, id) })
}

func (s *Service) cachedModulesByID(ctx context.Context, ids []string) ([]ModuleRecord, error) {
	return cachedRead(ctx, s, readKey(append([]string{"ms"}, ids...)...), func() ([]ModuleRecord, error) { return s.st.modulesByID(ctx, ids) })
}

func (s *Service) cachedCommit(ctx context.Context, id string) (Commit, error) {
	return cachedRead(ctx, s, readKey("c", id), func() (Commit, error) { return s.st.commit(ctx, id) })
}

func (s *Service) cachedLabelCommit(ctx context.Context, moduleID, name string) (Label, Commit, error) {
	lc, err := cachedRead(ctx, s, readKey("lc", moduleID, name), func() (labelAndCommit, error) {
		l, c, err := s.st.labelCommit(ctx, moduleID, name)
		return labelAndCommit{l, c}, err
	})
	return lc.l, lc.c, err
}

func (s *Service) cachedLabelByID(ctx context.Context, id string) (Label, error) {
	return cachedRead(ctx, s, readKey("li", id), func() (Label, error) { return s.st.labelByID(ctx, id) })
}

func (s *Service) cachedLatestCommit(ctx context.Context, moduleID string) (Commit, error) {
	return cachedRead(ctx, s, readKey("lt", moduleID), func() (Commit, error) { return s.st.latestCommit(ctx, moduleID) })
}

// cachedEncodings is store.encodings through the cache, for one commit at
// a time (a download names few).
func (s *Service) cachedEncodings(ctx context.Context, ids []string, kind string) (map[string]encoding, error) {
	out := make(map[string]encoding, len(ids))
	for _, id := range ids {
		e, err := cachedRead(ctx, s, readKey("e", kind, id), func() ([]encoding, error) {
			m, err := s.st.encodings(ctx, []string{id}, kind)
			if e, ok := m[id]; ok {
				return []encoding{e}, err
			}
			return nil, err
		})
		if err != nil {
			return nil, err
		}
		if len(e) == 1 {
			out[id] = e[0]
		}
	}
	return out, nil
}
