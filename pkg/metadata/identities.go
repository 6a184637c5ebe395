package metadata

import (
	"context"
	"time"

	"github.com/packyard/packyard/pkg/sqldb"
)

// Identity links an identity provider's account (issuer and subject) to the
// user it signs in as.
type Identity struct {
	Issuer    string
	Subject   string
	UserID    string
	CreatedAt time.Time
}

// Identities are the identity provider accounts users signed in with.
type Identities interface {
	// IdentityUser returns the id of the user an account is linked to;
	// errs.ErrNotFound when it is not linked.
	IdentityUser(ctx context.Context, issuer, subject string) (string, error)
	// IdentitySubject returns the subject of the issuer's account linked to a
	// user; errs.ErrNotFound when there is none.
	IdentitySubject(ctx context.Context, issuer, userID string) (string, error)
	// LinkIdentity links an account to a user; errs.ErrAlreadyExists when
	// the account is linked already.
	LinkIdentity(ctx context.Context, id Identity) error
}

var _ Identities = (*SQL)(nil)

func (s *SQL) IdentityUser(ctx context.Context, issuer, subject string) (string, error) {
	var userID string
	err := s.db.QueryRow(ctx, `SELECT user_id FROM user_identities WHERE issuer = ? AND subject = ?`, issuer, subject).Scan(&userID)
	return userID, sqldb.MapErr(err)
}

func (s *SQL) IdentitySubject(ctx context.Context, issuer, userID string) (string, error) {
	var subject string
	err := s.db.QueryRow(ctx, `SELECT subject FROM user_identities WHERE issuer = ? AND user_id = ?`, issuer, userID).Scan(&subject)
	return subject, sqldb.MapErr(err)
}

func (s *SQL) LinkIdentity(ctx context.Context, id Identity) error {
	_, err := s.db.Exec(ctx, `INSERT INTO user_identities (issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?)`,
		id.Issuer, id.Subject, id.UserID, id.CreatedAt.UnixMicro())
	return err
}
