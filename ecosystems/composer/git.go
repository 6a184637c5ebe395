package composer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/errs"
)

// gitCreds are a source's decrypted credentials.
type gitCreds struct {
	Kind       string `json:"-"` // "", "token", "ssh"
	Username   string `json:"-"`
	Token      string `json:"token,omitempty"`
	SSHKey     string `json:"ssh_key,omitempty"`
	Passphrase string `json:"passphrase,omitempty"`
	KnownHosts string `json:"-"`
}

// localPath returns the directory of a local-path or file:// URL, or "".
func localPath(u string) string {
	if strings.HasPrefix(u, "file://") {
		p, err := url.Parse(u)
		if err != nil {
			return ""
		}
		return p.Path
	}
	if filepath.IsAbs(u) {
		return u
	}
	return ""
}

// checkGitURL accepts a local absolute path, file://, https://, http://,
// ssh:// and scp-like (git@host:path) URLs.
func checkGitURL(u string) error {
	if u == "" {
		return errs.Invalidf("a git URL is required")
	}
	if localPath(u) != "" {
		return nil
	}
	ep, err := transport.NewEndpoint(u)
	if err != nil {
		return errs.Invalidf("%q is not a git URL: %v", u, err)
	}
	switch ep.Protocol {
	case "https", "http", "ssh":
		if ep.Password != "" {
			return errs.Invalidf("do not put a password in the git URL; pass the token with --token-file")
		}
		return nil
	}
	return errs.Invalidf("git URL %q: use an https://, ssh://, git@host:path, file:// URL or an absolute path", u)
}

func (c gitCreds) auth(rawURL string) (transport.AuthMethod, func(), error) {
	noop := func() {}
	switch c.Kind {
	case "token":
		user := c.Username
		if user == "" {
			user = "x-access-token"
		}
		return &githttp.BasicAuth{Username: user, Password: c.Token}, noop, nil
	case "ssh":
		user := c.Username
		if user == "" {
			if ep, err := transport.NewEndpoint(rawURL); err == nil && ep.User != "" {
				user = ep.User
			} else {
				user = "git"
			}
		}
		keys, err := gitssh.NewPublicKeys(user, []byte(c.SSHKey), c.Passphrase)
		if err != nil {
			return nil, noop, errs.Invalidf("the deploy key cannot be used: %v", err)
		}
		cleanup := noop
		if c.KnownHosts != "" {
			f, err := os.CreateTemp("", "packyard-known-hosts-*")
			if err != nil {
				return nil, noop, err
			}
			cleanup = func() { os.Remove(f.Name()) }
			_, werr := f.WriteString(c.KnownHosts)
			f.Close()
			if werr != nil {
				cleanup()
				return nil, noop, werr
			}
			cb, err := gitssh.NewKnownHostsCallback(f.Name())
			if err != nil {
				cleanup()
				return nil, noop, errs.Invalidf("known_hosts: %v", err)
			}
			keys.HostKeyCallback = cb
		}
		return keys, cleanup, nil
	}
	return nil, noop, nil
}

// remoteRefs are the branches and tags of a repository and its default branch.
type remoteRefs struct {
	Refs          map[string]string // "refs/tags/v1.0.0" -> object hash (tag or commit)
	DefaultBranch string            // branch name, "" when unknown
}

func collectRefs(refs []*plumbing.Reference) remoteRefs {
	out := remoteRefs{Refs: map[string]string{}}
	var headHash string
	for _, r := range refs {
		name := r.Name().String()
		switch {
		case name == "HEAD":
			if r.Type() == plumbing.SymbolicReference {
				out.DefaultBranch = strings.TrimPrefix(r.Target().String(), "refs/heads/")
			} else {
				headHash = r.Hash().String()
			}
		case r.Type() != plumbing.HashReference:
		case strings.HasPrefix(name, "refs/heads/"), strings.HasPrefix(name, "refs/tags/") && !strings.HasSuffix(name, "^{}"):
			out.Refs[name] = r.Hash().String()
		}
	}
	if _, ok := out.Refs["refs/heads/"+out.DefaultBranch]; !ok {
		out.DefaultBranch = ""
	}
	if out.DefaultBranch == "" {
		// No symbolic HEAD: the branch at HEAD's commit, preferring main and master.
		var cands []string
		for n, h := range out.Refs {
			if strings.HasPrefix(n, "refs/heads/") && (h == headHash || headHash == "") {
				cands = append(cands, strings.TrimPrefix(n, "refs/heads/"))
			}
		}
		sort.Slice(cands, func(i, j int) bool {
			return branchPreference(cands[i]) < branchPreference(cands[j]) || branchPreference(cands[i]) == branchPreference(cands[j]) && cands[i] < cands[j]
		})
		if len(cands) > 0 {
			out.DefaultBranch = cands[0]
		}
	}
	return out
}

func branchPreference(b string) int {
	switch b {
	case "main":
		return 0
	case "master":
		return 1
	}
	return 2
}

// gitRepo is an opened repository to read commits from.
type gitRepo struct {
	repo    *git.Repository
	cleanup func()
}

// listRefs lists a repository's refs without fetching objects.
func listRefs(ctx context.Context, rawURL string, creds gitCreds) (remoteRefs, error) {
	if p := localPath(rawURL); p != "" {
		repo, err := git.PlainOpenWithOptions(p, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
		if err != nil {
			return remoteRefs{}, errs.Invalidf("cannot open the git repository at %s: %v", p, err)
		}
		iter, err := repo.References()
		if err != nil {
			return remoteRefs{}, err
		}
		var refs []*plumbing.Reference
		_ = iter.ForEach(func(r *plumbing.Reference) error { refs = append(refs, r); return nil })
		if head, err := repo.Storer.Reference(plumbing.HEAD); err == nil {
			refs = append(refs, head)
		}
		return collectRefs(refs), nil
	}
	auth, cleanup, err := creds.auth(rawURL)
	if err != nil {
		return remoteRefs{}, err
	}
	defer cleanup()
	rem := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "origin", URLs: []string{rawURL}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return remoteRefs{Refs: map[string]string{}}, nil
		}
		return remoteRefs{}, gitError("list refs of "+redactURL(rawURL), err)
	}
	return collectRefs(refs), nil
}

func gitError(what string, err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return errs.PreconditionFailedf("%s: the git server refused the credentials: %v", what, err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return errs.PreconditionFailedf("%s: repository not found (or not visible with these credentials)", what)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", what, err)
	}
	return errs.Unavailablef("%s: %v", what, err)
}

func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	p.User = url.User(p.User.Username())
	return p.String()
}

// openRepo opens a local repository in place, or clones a remote one (every
// branch and tag, no work tree) into a temporary directory.
func openRepo(ctx context.Context, rawURL string, creds gitCreds) (*gitRepo, error) {
	if p := localPath(rawURL); p != "" {
		repo, err := git.PlainOpenWithOptions(p, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
		if err != nil {
			return nil, errs.Invalidf("cannot open the git repository at %s: %v", p, err)
		}
		return &gitRepo{repo: repo, cleanup: func() {}}, nil
	}
	auth, cleanupAuth, err := creds.auth(rawURL)
	if err != nil {
		return nil, err
	}
	defer cleanupAuth()
	dir, err := os.MkdirTemp("", "packyard-composer-git-*")
	if err != nil {
		return nil, err
	}
	repo, err := git.PlainCloneContext(ctx, dir, true, &git.CloneOptions{URL: rawURL, Auth: auth, Mirror: true, Tags: git.AllTags})
	if err != nil {
		os.RemoveAll(dir)
		return nil, gitError("clone "+redactURL(rawURL), err)
	}
	return &gitRepo{repo: repo, cleanup: func() { os.RemoveAll(dir) }}, nil
}

// commit resolves a ref's hash (a commit or an annotated tag) to its commit.
func (g *gitRepo) commit(hash string) (*object.Commit, error) {
	h := plumbing.NewHash(hash)
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

// manifest reads the composer.json at a commit; nil when there is none.
func manifestAt(c *object.Commit) ([]byte, error) {
	f, err := c.File("composer.json")
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

// archiveFiles lists a commit's files as "git archive" would put them in a
// zip: tree order, directories before their content, paths marked
// export-ignore in .gitattributes (at any level) left out, submodules
// skipped.
func (g *gitRepo) archiveFiles(c *object.Commit) ([]format.ArchiveFile, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	var out []format.ArchiveFile
	err = g.walk(tree, nil, nil, &out)
	return out, err
}

func (g *gitRepo) walk(tree *object.Tree, dir []string, patterns []gitignore.Pattern, out *[]format.ArchiveFile) error {
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
func (g *gitRepo) attributes(hash plumbing.Hash, domain []string) ([]gitignore.Pattern, error) {
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
