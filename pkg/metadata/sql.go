package metadata

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// SQL is the metadata store over a *sqldb.DB of either dialect.
type SQL struct {
	db     *sqldb.DB
	notify changes.Notifiers
}

var _ Store = (*SQL)(nil)

// NewSQL returns the store over a migrated database. Every write that
// changes what authentication and authorization read (tokens, memberships,
// organizations, users, generations) is announced to the notifiers inside
// its transaction.
func NewSQL(db *sqldb.DB, notify ...changes.Notifier) *SQL {
	return &SQL{db: db, notify: notify}
}

// change runs fn in a transaction that announces c.
func (s *SQL) change(ctx context.Context, c changes.Change, fn func(tx *sqldb.Tx) error) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return s.notify.Notify(ctx, tx, c)
	})
}

func (s *SQL) DB() *sqldb.DB                  { return s.db }
func (s *SQL) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// Times are stored as unix microseconds; 0/NULL is the zero time.
func toDB(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromDB(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func fromNull(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromDB(v.Int64)
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func scanErr(err error, kind, name string) error {
	if err == nil {
		return nil
	}
	err = sqldb.MapErr(err)
	if errors.Is(err, errs.ErrNotFound) {
		return notFound(kind, name)
	}
	return err
}

// ---- organizations ----

func (s *SQL) CreateOrg(ctx context.Context, o Org) (Org, error) {
	if err := CheckOrgName(o.Name); err != nil {
		return Org{}, err
	}
	if o.ID == "" {
		o.ID = NewID()
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = now()
	}
	err := s.change(ctx, changes.Change{Kind: changes.Org, Key: o.ID}, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO orgs (id, name, public, created_at) VALUES (?, ?, ?, ?)`,
			o.ID, o.Name, o.Public, toDB(o.CreatedAt))
		return err
	})
	if errors.Is(err, errs.ErrAlreadyExists) {
		return Org{}, errs.AlreadyExistsf("organization %q already exists", o.Name)
	}
	return o, err
}

const orgCols = `id, name, public, created_at`

func scanOrg(row interface{ Scan(...any) error }) (Org, error) {
	var o Org
	var created int64
	err := row.Scan(&o.ID, &o.Name, &o.Public, &created)
	o.CreatedAt = fromDB(created)
	return o, err
}

func (s *SQL) GetOrg(ctx context.Context, name string) (Org, error) {
	o, err := scanOrg(s.db.QueryRow(ctx, `SELECT `+orgCols+` FROM orgs WHERE name = ?`, name))
	return o, scanErr(err, "organization", name)
}

func (s *SQL) GetOrgByID(ctx context.Context, id string) (Org, error) {
	o, err := scanOrg(s.db.QueryRow(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = ?`, id))
	return o, scanErr(err, "organization", id)
}

func (s *SQL) ListOrgs(ctx context.Context) ([]Org, error) {
	rows, err := s.db.Query(ctx, `SELECT `+orgCols+` FROM orgs ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Org
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, sqldb.MapErr(err)
		}
		out = append(out, o)
	}
	return out, sqldb.MapErr(rows.Err())
}

func (s *SQL) SetOrgPublic(ctx context.Context, name string, public bool) error {
	return s.change(ctx, changes.Change{Kind: changes.Org, Key: name}, func(tx *sqldb.Tx) error {
		return expectOne(ctx, tx, "organization", name, `UPDATE orgs SET public = ? WHERE name = ?`, public, name)
	})
}

func (s *SQL) DeleteOrg(ctx context.Context, name string) error {
	return s.change(ctx, changes.Change{Kind: changes.All}, func(tx *sqldb.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, `SELECT id FROM orgs WHERE name = ?`, name).Scan(&id); err != nil {
			return scanErr(err, "organization", name)
		}
		// Bot users made for this organization go with it.
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE bot = ? AND id IN (SELECT user_id FROM members WHERE org_id = ?)
			AND NOT EXISTS (SELECT 1 FROM members m2 WHERE m2.user_id = users.id AND m2.org_id <> ?)`, true, id, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE org_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM members WHERE org_id = ?`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM orgs WHERE id = ?`, id)
		return err
	})
}

func expectOne(ctx context.Context, q sqldb.Querier, kind, name, query string, args ...any) error {
	res, err := q.Exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(kind, name)
	}
	return nil
}

// ---- users ----

func (s *SQL) CreateUser(ctx context.Context, u User) (User, error) {
	if err := ValidateName("user", u.Name); err != nil {
		return User{}, err
	}
	if u.ID == "" {
		u.ID = NewID()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	email, err := NormalizeEmail(u.Email)
	if err != nil {
		return User{}, err
	}
	u.Email = email
	_, err = s.db.Exec(ctx, `INSERT INTO users (id, name, admin, bot, email, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, u.Admin, u.Bot, nullString(email), toDB(u.CreatedAt))
	if errors.Is(err, errs.ErrAlreadyExists) {
		if _, gerr := s.GetUser(ctx, u.Name); gerr != nil && email != "" {
			return User{}, emailTaken(email)
		}
		return User{}, errs.AlreadyExistsf("user %q already exists", u.Name)
	}
	return u, err
}

const userCols = `id, name, admin, bot, COALESCE(email, ''), created_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Name, &u.Admin, &u.Bot, &u.Email, &created)
	u.CreatedAt = fromDB(created)
	return u, err
}

func (s *SQL) GetUser(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
	return u, scanErr(err, "user", name)
}

func (s *SQL) GetUserByID(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	return u, scanErr(err, "user", id)
}

func (s *SQL) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, sqldb.MapErr(err)
		}
		out = append(out, u)
	}
	return out, sqldb.MapErr(rows.Err())
}

func (s *SQL) DeleteUser(ctx context.Context, name string) error {
	return s.change(ctx, changes.Change{Kind: changes.All}, func(tx *sqldb.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, `SELECT id FROM users WHERE name = ?`, name).Scan(&id); err != nil {
			return scanErr(err, "user", name)
		}
		for _, q := range []string{`DELETE FROM tokens WHERE user_id = ?`, `DELETE FROM members WHERE user_id = ?`, `DELETE FROM users WHERE id = ?`} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// ---- members ----

func (s *SQL) SetMember(ctx context.Context, orgID, userID string, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	err := s.change(ctx, changes.Change{Kind: changes.Member, Key: orgID}, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO members (org_id, user_id, role) VALUES (?, ?, ?)
			ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`, orgID, userID, string(role))
		return err
	})
	if errors.Is(err, errs.ErrFailedPrecondition) {
		return errs.NotFoundf("organization or user does not exist")
	}
	return err
}

func (s *SQL) RemoveMember(ctx context.Context, orgID, userID string) error {
	return s.change(ctx, changes.Change{Kind: changes.Member, Key: orgID}, func(tx *sqldb.Tx) error {
		return expectOne(ctx, tx, "membership", userID, `DELETE FROM members WHERE org_id = ? AND user_id = ?`, orgID, userID)
	})
}

func (s *SQL) GetRole(ctx context.Context, orgID, userID string) (Role, error) {
	var r string
	err := s.db.QueryRow(ctx, `SELECT role FROM members WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&r)
	return Role(r), scanErr(err, "membership", userID)
}

func (s *SQL) GetOrgRole(ctx context.Context, orgName, userID string) (Org, Role, error) {
	var o Org
	var created int64
	var role sql.NullString
	err := s.db.QueryRow(ctx, `SELECT o.id, o.name, o.public, o.created_at, m.role FROM orgs o
		LEFT JOIN members m ON m.org_id = o.id AND m.user_id = ? WHERE o.name = ?`, userID, orgName).
		Scan(&o.ID, &o.Name, &o.Public, &created, &role)
	if err != nil {
		return Org{}, "", scanErr(err, "organization", orgName)
	}
	o.CreatedAt = fromDB(created)
	return o, Role(role.String), nil
}

func (s *SQL) ListMembers(ctx context.Context, orgID string) ([]Member, error) {
	rows, err := s.db.Query(ctx, `SELECT m.org_id, m.user_id, u.name, m.role FROM members m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? ORDER BY u.name`, orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var role string
		if err := rows.Scan(&m.OrgID, &m.UserID, &m.User, &role); err != nil {
			return nil, sqldb.MapErr(err)
		}
		m.Role = Role(role)
		out = append(out, m)
	}
	return out, sqldb.MapErr(rows.Err())
}

// ---- tokens ----

func (s *SQL) CreateToken(ctx context.Context, t Token) error {
	if t.ID == "" || len(t.Hash) == 0 || t.UserID == "" {
		return errs.Invalidf("token: id, hash and user are required")
	}
	if _, err := ParseRole(string(t.Scope)); err != nil {
		return err
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	var org any
	if t.OrgID != "" {
		org = t.OrgID
	}
	return s.change(ctx, changes.Change{Kind: changes.Token, Key: t.ID}, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tokens (id, hash, user_id, org_id, scope, name, created_at, expires_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, t.Hash, t.UserID, org, string(t.Scope), t.Name,
			toDB(t.CreatedAt), nullTime(t.ExpiresAt), nullTime(t.RevokedAt))
		return err
	})
}

const tokenCols = `id, hash, user_id, org_id, scope, name, created_at, expires_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var org sql.NullString
	var scope string
	var created int64
	var expires, revoked sql.NullInt64
	err := row.Scan(&t.ID, &t.Hash, &t.UserID, &org, &scope, &t.Name, &created, &expires, &revoked)
	t.OrgID, t.Scope = org.String, Role(scope)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromDB(created), fromNull(expires), fromNull(revoked)
	return t, err
}

func (s *SQL) GetToken(ctx context.Context, id string) (Token, error) {
	t, err := scanToken(s.db.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`, id))
	return t, scanErr(err, "token", id)
}

func (s *SQL) LookupToken(ctx context.Context, id string) (Token, User, error) {
	var t Token
	var u User
	var org sql.NullString
	var scope string
	var created, uCreated int64
	var expires, revoked sql.NullInt64
	err := s.db.QueryRow(ctx, `SELECT t.id, t.hash, t.user_id, t.org_id, t.scope, t.name, t.created_at, t.expires_at, t.revoked_at,
		u.id, u.name, u.admin, u.bot, u.created_at FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?`, id).
		Scan(&t.ID, &t.Hash, &t.UserID, &org, &scope, &t.Name, &created, &expires, &revoked,
			&u.ID, &u.Name, &u.Admin, &u.Bot, &uCreated)
	if err != nil {
		return Token{}, User{}, scanErr(err, "token", id)
	}
	t.OrgID, t.Scope = org.String, Role(scope)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromDB(created), fromNull(expires), fromNull(revoked)
	u.CreatedAt = fromDB(uCreated)
	return t, u, nil
}

func (s *SQL) ListTokens(ctx context.Context, orgID string) ([]Token, error) {
	return s.listTokens(ctx, `org_id = ?`, orgID)
}

// ListUserTokens implements Tokens.
func (s *SQL) ListUserTokens(ctx context.Context, userID string) ([]Token, error) {
	return s.listTokens(ctx, `user_id = ?`, userID)
}

func (s *SQL) listTokens(ctx context.Context, cond string, arg string) ([]Token, error) {
	rows, err := s.db.Query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE `+cond+` ORDER BY created_at, id`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, sqldb.MapErr(err)
		}
		out = append(out, t)
	}
	return out, sqldb.MapErr(rows.Err())
}

func (s *SQL) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = now()
	}
	// Revoking twice keeps the first revocation time.
	if _, err := s.GetToken(ctx, id); err != nil {
		return err
	}
	return s.change(ctx, changes.Change{Kind: changes.Token, Key: id}, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, toDB(at), id)
		return err
	})
}

// ---- blobs ----

func (s *SQL) RecordBlob(ctx context.Context, b Blob) error {
	if b.Digest == "" {
		return errs.Invalidf("blob digest is required")
	}
	t := now()
	if b.CreatedAt.IsZero() {
		b.CreatedAt = t
	}
	if b.TouchedAt.IsZero() {
		b.TouchedAt = t
	}
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var extraJSON string
		err := tx.QueryRow(ctx, `SELECT extra FROM blobs WHERE digest = ?`, b.Digest).Scan(&extraJSON)
		switch {
		case errors.Is(sqldb.MapErr(err), errs.ErrNotFound):
			enc, _ := json.Marshal(nonNil(b.Extra))
			_, err := tx.Exec(ctx, `INSERT INTO blobs (digest, size, extra, created_at, touched_at, pack, pack_offset) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (digest) DO UPDATE SET touched_at = excluded.touched_at`,
				b.Digest, b.Size, string(enc), toDB(b.CreatedAt), toDB(b.TouchedAt), b.Pack, b.Offset)
			return err
		case err != nil:
			return sqldb.MapErr(err)
		}
		extra := map[string]string{}
		_ = json.Unmarshal([]byte(extraJSON), &extra)
		for k, v := range b.Extra {
			extra[k] = v
		}
		enc, _ := json.Marshal(extra)
		_, err = tx.Exec(ctx, `UPDATE blobs SET extra = ?, touched_at = ? WHERE digest = ?`, string(enc), toDB(b.TouchedAt), b.Digest)
		return err
	})
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (s *SQL) GetBlob(ctx context.Context, digest string) (Blob, error) {
	b, err := scanBlob(s.db.QueryRow(ctx, `SELECT `+blobColumns+` FROM blobs WHERE digest = ?`, digest))
	if err != nil {
		return Blob{}, scanErr(err, "blob", digest)
	}
	return b, nil
}

func (s *SQL) AddBlobRef(ctx context.Context, q sqldb.Querier, digest, ref string) error {
	if q == nil {
		q = s.db
	}
	_, err := q.Exec(ctx, `INSERT INTO blob_refs (digest, ref) VALUES (?, ?) ON CONFLICT (digest, ref) DO NOTHING`, digest, ref)
	if errors.Is(err, errs.ErrFailedPrecondition) {
		return errs.PreconditionFailedf("blob %s is not in the store", digest)
	}
	return err
}

func (s *SQL) RemoveBlobRef(ctx context.Context, q sqldb.Querier, digest, ref string) error {
	if q == nil {
		q = s.db
	}
	_, err := q.Exec(ctx, `DELETE FROM blob_refs WHERE digest = ? AND ref = ?`, digest, ref)
	return err
}

func (s *SQL) RemoveBlobRefs(ctx context.Context, q sqldb.Querier, ref string) error {
	if q == nil {
		q = s.db
	}
	_, err := q.Exec(ctx, `DELETE FROM blob_refs WHERE ref = ?`, ref)
	return err
}

func (s *SQL) UnreferencedBlobs(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.db.Query(ctx, `SELECT digest FROM blobs b WHERE touched_at < ?
		AND NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.digest = b.digest) ORDER BY touched_at LIMIT ?`, toDB(before), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, sqldb.MapErr(err)
		}
		out = append(out, d)
	}
	return out, sqldb.MapErr(rows.Err())
}

func (s *SQL) DeleteBlobRecord(ctx context.Context, digest string, before time.Time) (bool, error) {
	res, err := s.db.Exec(ctx, `DELETE FROM blobs WHERE digest = ? AND touched_at < ?
		AND NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.digest = blobs.digest)`, digest, toDB(before))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
