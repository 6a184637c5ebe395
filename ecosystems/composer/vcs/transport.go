package vcs

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/outbound"
	"github.com/packyard/packyard/pkg/spool"
)

// Network is how repositories on other machines are reached, and where
// their clones are kept.
type Network struct {
	// HTTP carries git over http(s): the guarded client, which checks the
	// address of every connection and adds the credentials bound to the
	// request's context (outbound.WithBasicAuthFor) for their origin only.
	// go-git's global protocol registry is never used for http(s).
	HTTP *http.Client
	// Dial makes the connections of git over ssh ("host:port", the name
	// resolved by Dial): the guard's, which never connects to an address the
	// outbound policy refuses. Nil refuses ssh.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Spool holds clones while they are read, and known_hosts files while
	// a session checks them: PACKYARD_DATA_DIR/tmp, within its cap. Nil
	// refuses remote repositories that need one.
	Spool *spool.Spool
}

// session is an open upload-pack session with a remote repository and
// the refs it advertised.
type session struct {
	ctx  context.Context // carries an http(s) token bound to its origin
	adv  *packp.AdvRefs
	sess transport.UploadPackSession
	done func() // removes what the session needed on disk (known_hosts)
}

func (s *session) close() {
	s.sess.Close()
	s.done()
}

// open opens an upload-pack session with a remote repository: over http(s)
// through the guarded client (a token bound to the URL's origin in the
// context), over ssh on a connection n.Dial made. go-git's protocol
// registry, which dials by itself, is never used.
func (n Network) open(ctx context.Context, rawURL string, creds Creds) (*session, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, errs.Invalidf("%q is not a git URL", RedactURL(rawURL))
	}
	switch ep.Protocol {
	case "http", "https":
		if ctx, err = creds.bindToken(ctx, rawURL); err != nil {
			return nil, err
		}
		ar, sess, err := n.uploadPack(ctx, ep)
		if err != nil {
			return nil, err
		}
		return &session{ctx: ctx, adv: ar, sess: sess, done: func() {}}, nil
	case "ssh":
		auth, cleanup, err := creds.auth(ctx, rawURL, n)
		if err != nil {
			return nil, err
		}
		ar, sess, err := n.sshUploadPack(ctx, ep, auth)
		if err != nil {
			cleanup()
			return nil, err
		}
		return &session{ctx: ctx, adv: ar, sess: sess, done: cleanup}, nil
	}
	return nil, errs.Invalidf("git URL %q: use an https:// or ssh:// URL", RedactURL(rawURL))
}

// bindToken puts a token credential into ctx for rawURL's origin alone.
func (c Creds) bindToken(ctx context.Context, rawURL string) (context.Context, error) {
	if c.Kind != "token" {
		return ctx, nil
	}
	user := c.Username
	if user == "" {
		user = "x-access-token"
	}
	return outbound.WithBasicAuthFor(ctx, rawURL, user, c.Token)
}

// uploadPack opens an upload-pack session over http(s) through the guarded
// client and reads the advertised refs.
func (n Network) uploadPack(ctx context.Context, ep *transport.Endpoint) (*packp.AdvRefs, transport.UploadPackSession, error) {
	if n.HTTP == nil {
		return nil, nil, errors.New("git over http(s) is not configured")
	}
	tr := githttp.NewClientWithOptions(n.HTTP, &githttp.ClientOptions{RedirectPolicy: githttp.FollowInitialRedirects})
	sess, err := tr.NewUploadPackSession(ep, nil) // the credential is bound in ctx
	if err != nil {
		return nil, nil, err
	}
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		sess.Close()
		return nil, nil, err
	}
	return ar, sess, nil
}

// refs lists the refs a session advertised.
func (s *session) refs() ([]*plumbing.Reference, error) {
	st, err := s.adv.AllReferences()
	if err != nil {
		return nil, err
	}
	refs := make([]*plumbing.Reference, 0, len(st))
	for _, r := range st {
		refs = append(refs, r)
	}
	return refs, nil
}

// mirror fetches every ref the session advertised into st, as
// `git clone --mirror` does.
func (s *session) mirror(st storage.Storer) (*git.Repository, error) {
	refs, err := s.adv.AllReferences()
	if err != nil {
		return nil, err
	}
	req := packp.NewUploadPackRequestFromCapabilities(s.adv.Capabilities)
	seen := map[plumbing.Hash]bool{}
	for _, ref := range refs {
		if ref.Type() == plumbing.HashReference && !seen[ref.Hash()] {
			seen[ref.Hash()] = true
			req.Wants = append(req.Wants, ref.Hash())
		}
	}
	if len(req.Wants) > 0 {
		if err := fetchPack(s.ctx, s.sess, req, st); err != nil {
			return nil, err
		}
	}
	for _, ref := range refs {
		if err := st.SetReference(ref); err != nil {
			return nil, err
		}
	}
	if _, err := st.Reference(plumbing.HEAD); err != nil { // git.Open needs a HEAD
		_ = st.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.Master))
	}
	return git.Open(st, nil)
}

func fetchPack(ctx context.Context, sess transport.UploadPackSession, req *packp.UploadPackRequest, st storage.Storer) error {
	return fetchPackCounted(ctx, sess, req, st, nil)
}

// fetchPackCounted is fetchPack adding the bytes received to counted
// (when not nil).
func fetchPackCounted(ctx context.Context, sess transport.UploadPackSession, req *packp.UploadPackRequest, st storage.Storer, counted *atomic.Int64) error {
	res, err := sess.UploadPack(ctx, req)
	if err != nil {
		return err
	}
	defer res.Close()
	var pack io.Reader = res
	if counted != nil {
		pack = countingReader{r: res, n: counted}
	}
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		pack = sideband.NewDemuxer(sideband.Sideband64k, pack)
	case req.Capabilities.Supports(capability.Sideband):
		pack = sideband.NewDemuxer(sideband.Sideband, pack)
	}
	return packfile.UpdateObjectStorage(st, pack)
}
