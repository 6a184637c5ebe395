package vcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/errs"
)

// Repo is an opened repository to read commits from. Close removes what
// opening it left on disk.
type Repo struct {
	repo    *git.Repository
	cleanup func()
}

// Close releases the repository.
func (g *Repo) Close() { g.cleanup() }

// Open opens a local repository in place, or clones a remote one (every
// branch and tag, no work tree) into a directory of n.Spool: each write of
// the clone counts against the spool's cap as it is made, so a repository
// larger than PACKYARD_TMP_MAX_SIZE stops the clone there, and the
// directory is removed.
func Open(ctx context.Context, rawURL string, creds Creds, n Network) (*Repo, error) {
	if p := localPath(rawURL); p != "" {
		repo, err := openLocal(p)
		if err != nil {
			return nil, err
		}
		return &Repo{repo: repo, cleanup: func() {}}, nil
	}
	if n.Spool == nil {
		return nil, errors.New("no temporary directory for git clones")
	}
	dir, err := n.Spool.MkdirTemp(ctx, "packyard-composer-git-*")
	if err != nil {
		return nil, err
	}
	st := chargedStorage(dir)
	remove := func() {
		_ = st.Close()
		dir.Remove()
	}
	repo, err := n.clone(ctx, st, rawURL, creds)
	if err != nil {
		remove()
		return nil, gitError("clone "+RedactURL(rawURL), err)
	}
	if err := dir.Charge(); err != nil {
		remove()
		return nil, err
	}
	return &Repo{repo: repo, cleanup: remove}, nil
}

// clone makes a bare mirror of a remote repository in st.
func (n Network) clone(ctx context.Context, st *filesystem.Storage, rawURL string, creds Creds) (*git.Repository, error) {
	s, err := n.open(ctx, rawURL, creds)
	if err != nil {
		return nil, err
	}
	defer s.close()
	return s.mirror(st)
}

// openLocal opens a repository on this machine in place (a work tree, a
// bare repository or a worktree of another).
func openLocal(dir string) (*git.Repository, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, errs.Wrap(errs.ErrInvalidArgument, fmt.Sprintf("cannot open the git repository at %s", dir), err)
	}
	return repo, nil
}

// Commit is one commit of an opened repository.
type Commit struct {
	Hash string    // full hex
	When time.Time // the committer's date: the time of its archive's entries
	c    *object.Commit
	repo *Repo
}

// Commit resolves a ref's hash (a commit or an annotated tag) to its commit.
func (g *Repo) Commit(hash string) (Commit, error) {
	c, err := g.resolve(plumbing.NewHash(hash))
	if err != nil {
		return Commit{}, err
	}
	return Commit{Hash: c.Hash.String(), When: c.Committer.When, c: c, repo: g}, nil
}

func (g *Repo) resolve(h plumbing.Hash) (*object.Commit, error) {
	if tag, err := g.repo.TagObject(h); err == nil {
		for i := 0; i < 10 && tag.TargetType == plumbing.TagObject; i++ {
			if tag, err = g.repo.TagObject(tag.Target); err != nil {
				return nil, err
			}
		}
		if tag.TargetType != plumbing.CommitObject {
			return nil, fmt.Errorf("tag points at a %s, not a commit", tag.TargetType)
		}
		return g.repo.CommitObject(tag.Target)
	}
	return g.repo.CommitObject(h)
}

const maxManifestSize = 1 << 20

// Manifest reads the composer.json at the commit; nil when there is none.
func (c Commit) Manifest() ([]byte, error) {
	f, err := c.c.File("composer.json")
	if errors.Is(err, object.ErrFileNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if f.Size > maxManifestSize {
		return nil, errs.TooLargef("composer.json is larger than %d bytes", maxManifestSize)
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, maxManifestSize))
}

// Files lists the commit's files as "git archive" would put them in a
// zip: tree order, directories before their content, paths marked
// export-ignore in .gitattributes (at any level) left out, submodules
// skipped.
func (c Commit) Files() ([]format.ArchiveFile, error) {
	tree, err := c.c.Tree()
	if err != nil {
		return nil, err
	}
	var out []format.ArchiveFile
	err = c.repo.walk(tree, nil, nil, &out)
	return out, err
}

func (g *Repo) walk(tree *object.Tree, dir []string, patterns []gitignore.Pattern, out *[]format.ArchiveFile) error {
	for _, e := range tree.Entries {
		if e.Name == ".gitattributes" && e.Mode.IsFile() {
			ps, err := g.attributes(e.Hash, dir)
			if err != nil {
				return err
			}
			patterns = append(append([]gitignore.Pattern(nil), patterns...), ps...)
		}
	}
	m := gitignore.NewMatcher(patterns)
	for _, e := range tree.Entries {
		p := append(append([]string(nil), dir...), e.Name)
		isDir := e.Mode == filemode.Dir
		if len(patterns) > 0 && m.Match(p, isDir) {
			continue
		}
		rel := strings.Join(p, "/")
		hash := e.Hash
		switch e.Mode {
		case filemode.Dir:
			sub, err := g.repo.TreeObject(hash)
			if err != nil {
				return err
			}
			*out = append(*out, format.ArchiveFile{Path: rel, Dir: true})
			if err := g.walk(sub, p, patterns, out); err != nil {
				return err
			}
		case filemode.Submodule:
			continue
		default:
			*out = append(*out, format.ArchiveFile{
				Path:       rel,
				Executable: e.Mode == filemode.Executable,
				Symlink:    e.Mode == filemode.Symlink,
				Open: func() (io.ReadCloser, error) {
					b, err := g.repo.BlobObject(hash)
					if err != nil {
						return nil, err
					}
					return b.Reader()
				},
			})
		}
	}
	return nil
}

// attributes reads the export-ignore rules of a .gitattributes file as
// ignore patterns: "export-ignore" excludes, "-export-ignore" and
// "!export-ignore" include again.
func (g *Repo) attributes(hash plumbing.Hash, domain []string) ([]gitignore.Pattern, error) {
	b, err := g.repo.BlobObject(hash)
	if err != nil {
		return nil, err
	}
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	return parseExportIgnore(string(data), domain), nil
}

func parseExportIgnore(data string, domain []string) []gitignore.Pattern {
	var out []gitignore.Pattern
	for _, line := range strings.Split(data, "\n") {
		fields := strings.Fields(strings.TrimSpace(line))
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], "!") ||
			strings.HasPrefix(fields[0], "[attr]") || strings.HasPrefix(fields[0], `"`) {
			continue
		}
		state := 0 // 1 set, -1 unset
		for _, a := range fields[1:] {
			switch a {
			case "export-ignore", "export-ignore=true", "export-ignore=set":
				state = 1
			case "-export-ignore", "!export-ignore":
				state = -1
			}
		}
		switch state {
		case 1:
			out = append(out, gitignore.ParsePattern(fields[0], domain))
		case -1:
			out = append(out, gitignore.ParsePattern("!"+fields[0], domain))
		}
	}
	return out
}
