package vcs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// sshHandshakeTimeout bounds the ssh handshake and authentication.
const sshHandshakeTimeout = 30 * time.Second

// sshSession runs git-upload-pack over ssh on a connection that
// Network.Dial made. go-git's own ssh transport dials by itself (and
// honours ALL_PROXY and ~/.ssh/config), with no hook to check the address
// before it connects; so packyard opens the connection and speaks the
// upload-pack protocol over it with go-git's protocol types.
type sshSession struct {
	client  *ssh.Client
	session *ssh.Session
	stdin   io.WriteCloser
	stdout  io.Reader
	stderr  *headBuffer
	stop    func() bool // ends the context watch
	adv     *packp.AdvRefs
	packRun bool
	closed  bool
}

var _ transport.UploadPackSession = (*sshSession)(nil)

// sshConfig is the ssh client configuration for ep: the deploy key and
// its known_hosts (the system's when none was given), or no key at all.
func sshConfig(ep *transport.Endpoint, auth transport.AuthMethod) (*ssh.ClientConfig, error) {
	if keys, ok := auth.(*gitssh.PublicKeys); ok && keys != nil {
		return keys.ClientConfig()
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	cb, err := gitssh.NewKnownHostsCallback()
	if err != nil {
		return nil, err
	}
	return &ssh.ClientConfig{User: user, HostKeyCallback: cb}, nil
}

// sshUploadPack connects to ep through n.Dial, starts git-upload-pack for
// its path and reads the advertised refs.
func (n Network) sshUploadPack(ctx context.Context, ep *transport.Endpoint, auth transport.AuthMethod) (*packp.AdvRefs, transport.UploadPackSession, error) {
	if n.Dial == nil {
		return nil, nil, errors.New("git over ssh is not configured")
	}
	cfg, err := sshConfig(ep, auth)
	if err != nil {
		return nil, nil, err
	}
	port := ep.Port
	if port <= 0 {
		port = 22
	}
	addr := net.JoinHostPort(ep.Host, strconv.Itoa(port))
	conn, err := n.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(sshHandshakeTimeout))
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	s := &sshSession{client: ssh.NewClient(cc, chans, reqs)}
	s.stop = context.AfterFunc(ctx, func() { s.client.Close() }) // a cancelled sync stops reading
	if err := s.start(ep.Path); err != nil {
		s.Close()
		return nil, nil, err
	}
	ar, err := s.AdvertisedReferencesContext(ctx)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return ar, s, nil
}

// start runs git-upload-pack for path in a new session.
func (s *sshSession) start(path string) error {
	sess, err := s.client.NewSession()
	if err != nil {
		return err
	}
	s.session = sess
	if s.stdin, err = sess.StdinPipe(); err != nil {
		return err
	}
	if s.stdout, err = sess.StdoutPipe(); err != nil {
		return err
	}
	s.stderr = &headBuffer{max: 4 << 10}
	sess.Stderr = s.stderr
	return sess.Start(transport.UploadPackServiceName + " " + shellQuote(path))
}

// AdvertisedReferences reads the refs the server advertises.
func (s *sshSession) AdvertisedReferences() (*packp.AdvRefs, error) {
	return s.AdvertisedReferencesContext(context.Background())
}

// AdvertisedReferencesContext reads the refs the server advertises (once;
// the context that opened the session bounds the reading).
func (s *sshSession) AdvertisedReferencesContext(context.Context) (*packp.AdvRefs, error) {
	if s.adv != nil {
		return s.adv, nil
	}
	ar := packp.NewAdvRefs()
	if err := ar.Decode(s.stdout); err != nil {
		return nil, s.advRefsError(err)
	}
	if ar.IsEmpty() {
		return nil, transport.ErrEmptyRemoteRepository
	}
	transport.FilterUnsupportedCapabilities(ar.Capabilities)
	s.adv = ar
	return ar, nil
}

// advRefsError maps what a server says instead of refs: a repository that
// is not there (as git servers word it), an empty one, or a failure.
func (s *sshSession) advRefsError(err error) error {
	var line *pktline.ErrorLine
	switch {
	case errors.Is(err, packp.ErrEmptyAdvRefs):
		return transport.ErrEmptyRemoteRepository
	case errors.As(err, &line) && notFound(line.Text):
		return transport.ErrRepositoryNotFound
	case errors.Is(err, packp.ErrEmptyInput):
		_ = s.session.Wait() // the server's error is on stderr once it exits
		if notFound(s.stderr.String()) {
			return transport.ErrRepositoryNotFound
		}
		return fmt.Errorf("git-upload-pack answered nothing (%s): %w", strings.TrimSpace(s.stderr.String()), io.ErrUnexpectedEOF)
	}
	return err
}

// notFound reports whether a git server's message says the repository
// does not exist or cannot be seen (the wordings go-git recognises).
func notFound(msg string) bool {
	for _, m := range []string{"Repository not found.", "repository does not exist.", "does not appear to be a git repository",
		"no such repository", "access denied", "Repository does not exist or you do not have access",
		"The project you were looking for could not be found"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// UploadPack sends the wants and haves and returns the server's answer,
// whose pack is read from it.
func (s *sshSession) UploadPack(ctx context.Context, req *packp.UploadPackRequest) (*packp.UploadPackResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.AdvertisedReferencesContext(ctx); err != nil {
		return nil, err
	}
	s.packRun = true
	if err := req.UploadRequest.Encode(s.stdin); err != nil {
		return nil, fmt.Errorf("sending the wants: %w", err)
	}
	if err := req.UploadHaves.Encode(s.stdin, true); err != nil {
		return nil, fmt.Errorf("sending the haves: %w", err)
	}
	if err := pktline.NewEncoder(s.stdin).Encodef("done\n"); err != nil {
		return nil, fmt.Errorf("sending done: %w", err)
	}
	if err := s.stdin.Close(); err != nil {
		return nil, err
	}
	res := packp.NewUploadPackResponse(req)
	if err := res.Decode(io.NopCloser(s.stdout)); err != nil {
		return nil, fmt.Errorf("reading the upload-pack answer: %w", err)
	}
	return res, nil
}

// Close ends the session (a flush first when no pack was asked for, as git
// does) and the connection.
func (s *sshSession) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.session != nil && !s.packRun && s.stdin != nil {
		_, _ = s.stdin.Write(pktline.FlushPkt)
	}
	if s.session != nil {
		_ = s.session.Close()
	}
	s.stop()
	err := s.client.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// shellQuote single-quotes s for the remote shell, as git does
// (sq_quote_buf): ' and ! are closed, escaped and reopened.
func shellQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, c := range []byte(s) {
		if c == '\'' || c == '!' {
			b.WriteString(`'\`)
			b.WriteByte(c)
			b.WriteByte('\'')
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('\'')
	return b.String()
}

// headBuffer keeps the first max bytes written to it (a server's stderr)
// and discards the rest.
type headBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.max - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (h *headBuffer) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf.String()
}
