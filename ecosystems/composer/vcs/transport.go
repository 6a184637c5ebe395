package vcs

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage"
	"golang.org/x/crypto/ssh"

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
	// CheckAddr judges the address an ssh connection reached; a refusal ends
	// the session before authentication. Nil accepts every address.
	CheckAddr func(netip.Addr) error
	// Spool holds clones while they are read, and known_hosts files while
	// a session checks them: PACKYARD_DATA_DIR/tmp, within its cap. Nil
	// refuses remote repositories that need one.
	Spool *spool.Spool
}

// httpEndpoint returns the endpoint of an http(s) URL with ctx carrying
// the token bound to its origin; a nil endpoint for other protocols.
func httpEndpoint(ctx context.Context, rawURL string, creds Creds) (context.Context, *transport.Endpoint, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return ctx, nil, errs.Invalidf("%q is not a git URL", RedactURL(rawURL))
	}
	if ep.Protocol != "http" && ep.Protocol != "https" {
		return ctx, nil, nil
	}
	ctx, err = creds.bindToken(ctx, rawURL)
	return ctx, ep, err
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

// httpRefs lists a remote's refs over http(s).
func (n Network) httpRefs(ctx context.Context, ep *transport.Endpoint) ([]*plumbing.Reference, error) {
	ar, sess, err := n.uploadPack(ctx, ep)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	st, err := ar.AllReferences()
	if err != nil {
		return nil, err
	}
	refs := make([]*plumbing.Reference, 0, len(st))
	for _, r := range st {
		refs = append(refs, r)
	}
	return refs, nil
}

// httpMirror fetches every ref of a remote over http(s) into st, as
// `git clone --mirror` does.
func (n Network) httpMirror(ctx context.Context, ep *transport.Endpoint, st storage.Storer) (*git.Repository, error) {
	ar, sess, err := n.uploadPack(ctx, ep)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	refs, err := ar.AllReferences()
	if err != nil {
		return nil, err
	}
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	seen := map[plumbing.Hash]bool{}
	for _, ref := range refs {
		if ref.Type() == plumbing.HashReference && !seen[ref.Hash()] {
			seen[ref.Hash()] = true
			req.Wants = append(req.Wants, ref.Hash())
		}
	}
	if len(req.Wants) > 0 {
		if err := fetchPack(ctx, sess, req, st); err != nil {
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
	res, err := sess.UploadPack(ctx, req)
	if err != nil {
		return err
	}
	defer res.Close()
	var pack io.Reader = res
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		pack = sideband.NewDemuxer(sideband.Sideband64k, res)
	case req.Capabilities.Supports(capability.Sideband):
		pack = sideband.NewDemuxer(sideband.Sideband, res)
	}
	return packfile.UpdateObjectStorage(st, pack)
}

// guardHostKey makes an ssh session check the address it connected to
// before anything else. The TCP connection and the server's banner happen
// before that check: go-git's ssh transport has no dialer hook.
func (n Network) guardHostKey(keys *gitssh.PublicKeys) {
	if n.CheckAddr == nil {
		return
	}
	inner := keys.HostKeyCallback
	keys.HostKeyCallback = func(host string, remote net.Addr, key ssh.PublicKey) error {
		if err := n.checkNetAddr(remote); err != nil {
			return err
		}
		if inner == nil { // go-git's default: the user's known_hosts
			cb, err := gitssh.NewKnownHostsCallback()
			if err != nil {
				return err
			}
			inner = cb
		}
		return inner(host, remote, key)
	}
}

func (n Network) checkNetAddr(a net.Addr) error {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return outbound.Unreachable(errors.New("ssh: not a TCP connection"))
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return outbound.Unreachable(errors.New("ssh: no address"))
	}
	if err := n.CheckAddr(ip.Unmap()); err != nil {
		return outbound.Unreachable(err)
	}
	return nil
}
