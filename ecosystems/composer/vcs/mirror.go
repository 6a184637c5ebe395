package vcs

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/packyard/packyard/pkg/spool"
)

// maxHaves bounds the commits an Update names as present (the tips of the
// mirror's refs): enough for the server to send only what is new.
const maxHaves = 256

// Mirror is a bare mirror of a remote repository kept on disk between
// syncs (in a directory of Network.Spool, so it counts against
// PACKYARD_TMP_MAX_SIZE and is gone after a restart): Update fetches only
// the objects the remote has and the mirror lacks, telling the server which
// commits it has. A local repository is read in place and never mirrored.
// A Mirror is used by one sync at a time.
type Mirror struct {
	dir  *spool.Dir
	st   *filesystem.Storage
	repo *git.Repository
}

// FetchStats is what an Update transferred.
type FetchStats struct {
	Wants     int   // objects asked for (the tips the mirror lacked)
	PackBytes int64 // bytes of the pack received
}

// Remove deletes the mirror from disk.
func (m *Mirror) Remove() {
	if m.st != nil {
		_ = m.st.Close()
	}
	if m.dir != nil {
		m.dir.Remove()
	}
	m.dir, m.st, m.repo = nil, nil, nil
}

// Update brings the mirror to the remote's refs and returns the repository
// to read (valid until the next Update or Remove; its Close releases the
// files reading it opened and keeps the mirror).
// A mirror that cannot be updated is removed; the next Update clones again.
func (m *Mirror) Update(ctx context.Context, rawURL string, creds Creds, n Network) (*Repo, FetchStats, error) {
	if p := localPath(rawURL); p != "" {
		repo, err := openLocal(p)
		if err != nil {
			return nil, FetchStats{}, err
		}
		return &Repo{repo: repo, cleanup: func() {}}, FetchStats{}, nil
	}
	if n.Spool == nil {
		return nil, FetchStats{}, errors.New("no temporary directory for git mirrors")
	}
	if m.dir == nil {
		dir, err := n.Spool.MkdirTemp(ctx, "packyard-composer-git-*")
		if err != nil {
			return nil, FetchStats{}, err
		}
		st := chargedStorage(dir)
		repo, err := git.Init(st, nil)
		if err != nil {
			dir.Remove()
			return nil, FetchStats{}, err
		}
		m.dir, m.st, m.repo = dir, st, repo
	}
	stats, err := n.fetchInto(ctx, m.repo.Storer, rawURL, creds)
	if err == nil {
		err = m.dir.Charge()
	}
	if err != nil {
		m.Remove()
		return nil, stats, gitError("fetch "+RedactURL(rawURL), err)
	}
	st := m.st
	return &Repo{repo: m.repo, cleanup: func() { _ = st.Close() }}, stats, nil
}

// fetchInto fetches the remote's refs into st: the objects of the tips st
// lacks (with every tip st has as a "have"), then the refs as advertised,
// dropping those the remote no longer has.
func (n Network) fetchInto(ctx context.Context, st storage.Storer, rawURL string, creds Creds) (FetchStats, error) {
	var stats FetchStats
	s, err := n.open(ctx, rawURL, creds)
	if err != nil {
		return stats, err
	}
	defer s.close()
	remote, err := s.adv.AllReferences()
	if err != nil {
		return stats, err
	}
	req := packp.NewUploadPackRequestFromCapabilities(s.adv.Capabilities)
	seen := map[plumbing.Hash]bool{}
	for _, ref := range remote {
		h := ref.Hash()
		if ref.Type() != plumbing.HashReference || seen[h] {
			continue
		}
		seen[h] = true
		if st.HasEncodedObject(h) != nil {
			req.Wants = append(req.Wants, h)
		}
	}
	local, err := localRefs(st)
	if err != nil {
		return stats, err
	}
	had := map[plumbing.Hash]bool{}
	for _, ref := range local {
		if h := ref.Hash(); ref.Type() == plumbing.HashReference && !had[h] && len(req.Haves) < maxHaves {
			had[h] = true
			req.Haves = append(req.Haves, h)
		}
	}
	stats.Wants = len(req.Wants)
	if len(req.Wants) > 0 {
		var counted atomic.Int64
		if err := fetchPackCounted(s.ctx, s.sess, req, st, &counted); err != nil {
			return stats, err
		}
		stats.PackBytes = counted.Load()
	}
	return stats, syncRefs(st, remote, local)
}

// localRefs lists the refs a storage holds, HEAD excluded.
func localRefs(st storage.Storer) ([]*plumbing.Reference, error) {
	iter, err := st.IterReferences()
	if err != nil {
		return nil, err
	}
	var out []*plumbing.Reference
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Name() != plumbing.HEAD {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// syncRefs makes st's refs the remote's.
func syncRefs(st storer.ReferenceStorer, remote memory.ReferenceStorage, local []*plumbing.Reference) error {
	for _, ref := range local {
		if _, ok := remote[ref.Name()]; !ok {
			if err := st.RemoveReference(ref.Name()); err != nil {
				return err
			}
		}
	}
	for _, ref := range remote {
		if err := st.SetReference(ref); err != nil {
			return err
		}
	}
	if _, err := st.Reference(plumbing.HEAD); err != nil { // git.Open needs a HEAD
		_ = st.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.Master))
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
