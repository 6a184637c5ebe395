// Package metadata is the kernel's metadata store: organizations, users
// and the identity provider accounts they sign in with, memberships, API tokens, the content-addressed blob index with its
// references, precomputed documents and change generations. It is the only
// source of truth; caches are rebuilt from it.
//
// One implementation (NewSQL) runs over both SQL dialects of pkg/sqldb; the
// drivers that open the database live in storage/sqlite and
// storage/postgres. metadatatest is the conformance suite both run.
// Ecosystems keep their own tables (prefixed composer_*, buf_*) in the same
// database and reach it through DB().
package metadata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Role is a level of access to an organization; a token's scope is a Role.
type Role string

const (
	RoleRead  Role = "read"
	RoleWrite Role = "write"
	RoleAdmin Role = "admin"
)

// ParseRole accepts read, write or admin.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleRead, RoleWrite, RoleAdmin:
		return Role(s), nil
	}
	return "", errs.Invalidf("role %q is not one of read, write, admin", s)
}

// Rank orders roles: read < write < admin; 0 for none.
func (r Role) Rank() int {
	switch r {
	case RoleRead:
		return 1
	case RoleWrite:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Allows reports whether r grants at least want.
func (r Role) Allows(want Role) bool { return r.Rank() > 0 && r.Rank() >= want.Rank() }

// Min returns the lesser of two roles.
func Min(a, b Role) Role {
	if a.Rank() <= b.Rank() {
		return a
	}
	return b
}

// Org is an organization: the unit of ownership and access.
type Org struct {
	ID        string
	Name      string
	Public    bool // anonymous reads allowed
	CreatedAt time.Time
}

// User is a person or a bot (made for an organization's tokens).
type User struct {
	ID        string
	Name      string
	Admin     bool // site administrator
	Bot       bool
	Email     string // set by an administrator, lower case; "" when none (LookupToken leaves it empty)
	CreatedAt time.Time
}

// Member is a user's role in an organization.
type Member struct {
	OrgID  string
	UserID string
	User   string // user name, filled by ListMembers
	Role   Role
}

// Token is an API token's stored form: never the secret, only its hash.
type Token struct {
	ID        string // public identifier, part of the token text
	Hash      []byte // sha256 of the whole token text
	UserID    string
	OrgID     string // empty: not limited to one organization
	Scope     Role
	Name      string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
	RevokedAt time.Time // zero: active
}

// Active reports whether the token can be used at now.
func (t Token) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// Blob is an entry of the content-addressed index.
type Blob struct {
	Digest    string // hex sha256
	Size      int64
	Extra     map[string]string // other digests by algorithm ("sha1", "shake256")
	CreatedAt time.Time
	TouchedAt time.Time // last time a writer stored or reused it
	// Pack is the sha256 of the pack object holding the blob at Offset, or
	// empty when the blob is its own object. A recorded blob keeps the
	// location it was first recorded with.
	Pack   string
	Offset int64
}

// Document is a precomputed artefact (a Composer p2 file, a packages.json)
// kept with its modification time, rebuilt on write.
type Document struct {
	Scope       string // e.g. "composer:acme"
	Key         string // e.g. "p2/vendor/name.json"
	Body        []byte
	ContentType string
	ModTime     time.Time
}

// Orgs manages organizations. Names are unique and lower-case.
type Orgs interface {
	CreateOrg(ctx context.Context, o Org) (Org, error) // ErrAlreadyExists
	GetOrg(ctx context.Context, name string) (Org, error)
	GetOrgByID(ctx context.Context, id string) (Org, error)
	ListOrgs(ctx context.Context) ([]Org, error)
	SetOrgPublic(ctx context.Context, name string, public bool) error
	DeleteOrg(ctx context.Context, name string) error
}

// Users manages users. Names are unique and lower-case.
type Users interface {
	CreateUser(ctx context.Context, u User) (User, error) // ErrAlreadyExists
	GetUser(ctx context.Context, name string) (User, error)
	GetUserByID(ctx context.Context, id string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	DeleteUser(ctx context.Context, name string) error
}

// Members manages roles of users in organizations.
type Members interface {
	SetMember(ctx context.Context, orgID, userID string, role Role) error // insert or change
	RemoveMember(ctx context.Context, orgID, userID string) error
	GetRole(ctx context.Context, orgID, userID string) (Role, error) // ErrNotFound when not a member
	// GetOrgRole returns an organization by name with the user's role in it
	// ("" when not a member) in one query: the authorization hot path.
	GetOrgRole(ctx context.Context, orgName, userID string) (Org, Role, error)
	ListMembers(ctx context.Context, orgID string) ([]Member, error)
}

// Tokens manages API tokens.
type Tokens interface {
	CreateToken(ctx context.Context, t Token) error
	GetToken(ctx context.Context, id string) (Token, error)
	// LookupToken returns a token with the user it belongs to in one
	// query: the authentication hot path.
	LookupToken(ctx context.Context, id string) (Token, User, error)
	ListTokens(ctx context.Context, orgID string) ([]Token, error)
	// ListUserTokens lists a user's tokens, of every organization.
	ListUserTokens(ctx context.Context, userID string) ([]Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time) error // ErrNotFound
}

// Blobs is the CAS index and its references. Refs are written with the
// caller's Querier so that they commit in the same transaction as the rows
// that use the blob.
type Blobs interface {
	// RecordBlob inserts the blob or, when it exists, merges Extra and sets TouchedAt.
	RecordBlob(ctx context.Context, b Blob) error
	// RecordBlobs records many blobs as RecordBlob records each, in one transaction.
	RecordBlobs(ctx context.Context, bs []Blob) error
	GetBlob(ctx context.Context, digest string) (Blob, error)
	// GetBlobs returns the recorded blobs among digests, by digest, in a
	// few queries.
	GetBlobs(ctx context.Context, digests []string) (map[string]Blob, error)
	// TouchBlobs sets TouchedAt of the recorded blobs among digests to at
	// and returns them (as recorded, touched) by digest, in one
	// transaction: a blob it returns was recorded when it was touched, so
	// a GC's conditional delete of an older listing no longer takes it.
	TouchBlobs(ctx context.Context, digests []string, at time.Time) (map[string]Blob, error)
	// PackInUse reports whether a recorded blob is stored in the pack.
	PackInUse(ctx context.Context, pack string) (bool, error)
	AddBlobRef(ctx context.Context, q sqldb.Querier, digest, ref string) error
	// AddBlobRefs adds ref to each of digests, as AddBlobRef does one.
	AddBlobRefs(ctx context.Context, q sqldb.Querier, digests []string, ref string) error
	RemoveBlobRef(ctx context.Context, q sqldb.Querier, digest, ref string) error
	// RemoveBlobRefs removes every reference named ref (e.g. when a module is deleted).
	RemoveBlobRefs(ctx context.Context, q sqldb.Querier, ref string) error
	// UnreferencedBlobs lists blobs without references not touched since before.
	UnreferencedBlobs(ctx context.Context, before time.Time, limit int) ([]string, error)
	// DeleteBlobRecord deletes the index entry if it is still unreferenced
	// and untouched since before; it reports whether it did.
	DeleteBlobRecord(ctx context.Context, digest string, before time.Time) (bool, error)
}

// Documents stores precomputed artefacts.
type Documents interface {
	PutDocument(ctx context.Context, q sqldb.Querier, d Document) error
	// GetDocument reads a document through q (nil: the store's database),
	// so a transaction reads what it wrote and needs no second connection.
	GetDocument(ctx context.Context, q sqldb.Querier, scope, key string) (Document, error)
	DeleteDocuments(ctx context.Context, q sqldb.Querier, scope string, keys ...string) error
}

// Generations are per-scope change counters: writers bump them in their
// transaction, readers put them in cache keys, so a change made by any
// process (a replica, the CLI) is never hidden by a stale cache entry.
type Generations interface {
	Generation(ctx context.Context, scope string) (int64, error) // 0 when never bumped
	BumpGeneration(ctx context.Context, q sqldb.Querier, scope string) (int64, error)
}

// Store is the whole metadata store.
type Store interface {
	Orgs
	Users
	Identities
	Members
	Tokens
	Blobs
	Documents
	Generations
	// DB is the database, for ecosystems' own tables and transactions.
	DB() *sqldb.DB
	Ping(ctx context.Context) error
}

// NewID returns a new identifier: a time-ordered UUID (v7) as 32 lower-case
// hex digits, the form the buf CLI expects for IDs.
func NewID() string {
	u, err := uuid.NewV7()
	if err != nil {
		var b [16]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	return hex.EncodeToString(u[:])
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}[a-z0-9]$|^[a-z0-9]$`)

// ValidateName checks an organization or user name: 1–64 characters of
// lower-case letters, digits, ".", "_" and "-", starting and ending with a
// letter or digit.
func ValidateName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return errs.Invalidf("%s name %q is invalid: use 1-64 lower-case letters, digits, '.', '_' or '-', starting and ending with a letter or digit", kind, name)
	}
	return nil
}

func notFound(kind, name string) error { return fmt.Errorf("%s %q: %w", kind, name, errs.ErrNotFound) }
