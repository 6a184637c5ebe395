// Package vcs reads the git repositories Composer packages are synced from:
// it checks and redacts their URLs, lists their branches and tags and
// default branch, opens them (in place, or cloned without a work tree),
// and reads a commit's composer.json and the files its archive holds (as
// git archive picks them, export-ignore honoured). It never writes to a
// repository and knows nothing of the Composer service.
package vcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/outbound"
)

// Creds are a source's decrypted credentials. The JSON form (token, or
// ssh_key and passphrase) is what a source stores, sealed.
type Creds struct {
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

// IsLocal reports whether u names a repository on this machine (an
// absolute path or a file:// URL).
func IsLocal(u string) bool { return localPath(u) != "" }

// CheckURL accepts a local absolute path, file://, https://, http://,
// ssh:// and scp-like (git@host:path) URLs.
func CheckURL(u string) error {
	if u == "" {
		return errs.Invalidf("a git URL is required")
	}
	if localPath(u) != "" {
		return nil
	}
	ep, err := transport.NewEndpoint(u)
	if err != nil {
		return errs.Wrap(errs.ErrInvalidArgument, fmt.Sprintf("%q is not a git URL", u), err)
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

// Host is the host a remote git URL names ("" when it names none).
func Host(u string) string {
	ep, err := transport.NewEndpoint(u)
	if err != nil {
		return ""
	}
	return ep.Host
}

// Check reports whether the credentials can be used for rawURL (a deploy
// key that does not parse cannot).
func (c Creds) Check(rawURL string) error {
	_, err := c.publicKeys(rawURL)
	return err
}

// auth is the go-git authentication of an ssh session (http(s) sessions
// take their credential from the context: bindToken). A known_hosts list is
// written to a file of n.Spool for the session's life (cleanup removes it).
func (c Creds) auth(ctx context.Context, rawURL string, n Network) (transport.AuthMethod, func(), error) {
	noop := func() {}
	if c.Kind != "ssh" {
		return nil, noop, nil
	}
	keys, err := c.publicKeys(rawURL)
	if err != nil {
		return nil, noop, err
	}
	cleanup := noop
	if c.KnownHosts != "" {
		if cleanup, err = n.knownHosts(ctx, keys, c.KnownHosts); err != nil {
			return nil, noop, err
		}
	}
	return keys, cleanup, nil
}

// publicKeys parses the deploy key of ssh credentials.
func (c Creds) publicKeys(rawURL string) (*gitssh.PublicKeys, error) {
	if c.Kind != "ssh" {
		return nil, nil
	}
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
		return nil, errs.Wrap(errs.ErrInvalidArgument, "the deploy key cannot be used", err)
	}
	return keys, nil
}

// knownHosts makes keys accept only the host keys of list, written to a
// spool file that the returned cleanup removes.
func (n Network) knownHosts(ctx context.Context, keys *gitssh.PublicKeys, list string) (func(), error) {
	if n.Spool == nil {
		return nil, errors.New("no temporary directory for known_hosts")
	}
	f, err := n.Spool.Create(ctx, "packyard-known-hosts-*")
	if err != nil {
		return nil, err
	}
	cleanup := func() { f.Close() }
	if _, err := io.WriteString(f, list); err != nil {
		cleanup()
		return nil, err
	}
	cb, err := gitssh.NewKnownHostsCallback(f.Name())
	if err != nil {
		cleanup()
		return nil, errs.Wrap(errs.ErrInvalidArgument, "known_hosts cannot be read", err)
	}
	keys.HostKeyCallback = cb
	return cleanup, nil
}

// Refs are the branches and tags of a repository and its default branch.
type Refs struct {
	Refs          map[string]string // "refs/tags/v1.0.0" -> object hash (tag or commit)
	DefaultBranch string            // branch name, "" when unknown
}

func collectRefs(refs []*plumbing.Reference) Refs {
	out := Refs{Refs: map[string]string{}}
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

// ListRefs lists a repository's refs without fetching objects.
func ListRefs(ctx context.Context, rawURL string, creds Creds, n Network) (Refs, error) {
	if p := localPath(rawURL); p != "" {
		repo, err := openLocal(p)
		if err != nil {
			return Refs{}, err
		}
		iter, err := repo.References()
		if err != nil {
			return Refs{}, err
		}
		var refs []*plumbing.Reference
		_ = iter.ForEach(func(r *plumbing.Reference) error { refs = append(refs, r); return nil })
		if head, err := repo.Storer.Reference(plumbing.HEAD); err == nil {
			refs = append(refs, head)
		}
		return collectRefs(refs), nil
	}
	refs, err := n.remoteRefs(ctx, rawURL, creds)
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return Refs{Refs: map[string]string{}}, nil
		}
		return Refs{}, gitError("list refs of "+RedactURL(rawURL), err)
	}
	return collectRefs(refs), nil
}

func gitError(what string, err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return errs.Wrap(errs.ErrFailedPrecondition, what+": the git server refused the credentials", err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return errs.PreconditionFailedf("%s: repository not found (or not visible with these credentials)", what)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, errs.ErrTooLarge), errors.Is(err, errs.ErrResourceExhausted): // the spool's cap
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, outbound.Unreachable(err))
}

// remoteRefs asks a remote repository for its refs.
func (n Network) remoteRefs(ctx context.Context, rawURL string, creds Creds) ([]*plumbing.Reference, error) {
	s, err := n.open(ctx, rawURL, creds)
	if err != nil {
		return nil, err
	}
	defer s.close()
	return s.refs()
}

// RedactURL is a URL without its password (a token given in the URL).
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	p.User = url.User(p.User.Username())
	return p.String()
}
