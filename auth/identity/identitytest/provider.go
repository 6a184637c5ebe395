// Package identitytest runs a real OpenID Connect provider for tests:
// zitadel/oidc's OP with its example in-memory storage, on 127.0.0.1, with
// the authorization-code (PKCE), device and refresh grants and a one-second
// device poll interval. Its login page signs in the user the test chose
// (LoginAs) without a form, so an HTTP client that follows redirects
// completes an authorization-code sign-in; device codes are approved with
// ApproveDevice.
package identitytest

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// The example storage's users (see its NewUserStore).
const (
	// User1ID's preferred_username is "test-user@127.0.0.1", email test-user@zitadel.ch.
	User1ID = "id1"
	// User2ID's preferred_username is "test-user2", email test-user2@zitadel.ch.
	User2ID       = "id2"
	User1Name     = "test-user@127.0.0.1"
	User2Name     = "test-user2"
	UserPassword  = "verysecure"
	DevicePollSec = 1
)

// Provider is a running OIDC provider.
type Provider struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Storage      *storage.Storage
	users        *userStore

	mu      sync.Mutex
	loginAs string // username the login page signs in
	allow   func(string)
	device  sync.Mutex
}

// bothFlows is the example device client, also allowed the
// authorization-code flow with the given redirect URIs.
type bothFlows struct {
	*storage.Client
	redirects []string
}

func (c bothFlows) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeDeviceCode, oidc.GrantTypeRefreshToken}
}
func (c bothFlows) RedirectURIs() []string { return c.redirects }
func (c bothFlows) DevMode() bool          { return true } // allows http redirect URIs

type testStorage struct {
	*storage.Storage
	redirects func() []string
	// device serialises approvals with reads of device states: the example
	// storage hands out the state it later changes in place, so reads get
	// a copy made under this lock.
	device *sync.Mutex
}

func (s testStorage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	s.device.Lock()
	defer s.device.Unlock()
	st, err := s.Storage.GetDeviceAuthorizatonState(ctx, clientID, deviceCode)
	if err != nil {
		return nil, err
	}
	c := *st
	return &c, nil
}

func (s testStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	sc, ok := c.(*storage.Client)
	if !ok {
		return c, nil
	}
	return bothFlows{Client: sc, redirects: s.redirects()}, nil
}

// Start runs a provider until the test ends. redirectURIs may be given
// later with AllowRedirect (packyard's address is often known after).
func Start(t testing.TB) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	p := &Provider{Issuer: issuer, ClientID: "packyard", ClientSecret: "packyard-secret", loginAs: User1Name,
		users: &userStore{UserStore: storage.NewUserStore(issuer), extra: map[string]*storage.User{}}}
	clients := map[string]*storage.Client{p.ClientID: storage.DeviceClient(p.ClientID, p.ClientSecret)}
	p.Storage = storage.NewStorageWithClients(p.users, clients)
	var redirects []string
	var rmu sync.Mutex
	st := testStorage{Storage: p.Storage, device: &p.device, redirects: func() []string {
		rmu.Lock()
		defer rmu.Unlock()
		return append([]string(nil), redirects...)
	}}
	p.allow = func(u string) { rmu.Lock(); redirects = append(redirects, u); rmu.Unlock() }

	cfg := &op.Config{
		CryptoKey:                sha256.Sum256([]byte("packyard identity tests")),
		DefaultLogoutRedirectURI: "/",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime:     5 * time.Minute,
			PollInterval: DevicePollSec * time.Second,
			UserFormPath: "/device",
			UserCode:     op.UserCodeBase20,
		},
	}
	provider, err := op.NewOpenIDProvider(issuer, cfg, st, op.WithAllowInsecure(),
		op.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	callback := op.AuthCallbackURL(provider)
	mux.Handle("/login/username", op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("authRequestID")
		p.mu.Lock()
		user := p.loginAs
		p.mu.Unlock()
		if err := p.Storage.CheckUsernamePassword(user, UserPassword, id); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	}))
	mux.Handle("/", provider)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return p
}

// AllowRedirect registers a redirect URI for the authorization-code flow.
func (p *Provider) AllowRedirect(u string) { p.allow(u) }

// LoginAs sets the user the login page signs in (User1Name or User2Name).
func (p *Provider) LoginAs(username string) {
	p.mu.Lock()
	p.loginAs = username
	p.mu.Unlock()
}

// ApproveDevice approves a device flow's user code as a user id (User1ID, User2ID).
func (p *Provider) ApproveDevice(ctx context.Context, userCode, userID string) error {
	p.device.Lock()
	defer p.device.Unlock()
	return p.Storage.CompleteDeviceAuthorization(ctx, userCode, userID)
}

// AddUser adds an account to the provider (its Password is UserPassword
// when empty); sign in as it with LoginAs(u.Username).
func (p *Provider) AddUser(u storage.User) {
	if u.Password == "" {
		u.Password = UserPassword
	}
	p.users.mu.Lock()
	defer p.users.mu.Unlock()
	p.users.extra[u.ID] = &u
}

// userStore is the example's users plus the ones a test added.
type userStore struct {
	storage.UserStore
	mu    sync.Mutex
	extra map[string]*storage.User
}

func (s *userStore) GetUserByID(id string) *storage.User {
	s.mu.Lock()
	u, ok := s.extra[id]
	s.mu.Unlock()
	if ok {
		return u
	}
	return s.UserStore.GetUserByID(id)
}

func (s *userStore) GetUserByUsername(name string) *storage.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.extra {
		if u.Username == name {
			return u
		}
	}
	return s.UserStore.GetUserByUsername(name)
}
