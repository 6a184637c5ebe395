package composer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/packyard/packyard/ecosystems/composer/vcs"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// SourceInput registers a git repository.
type SourceInput struct {
	URL           string
	Username      string // for https tokens (default x-access-token) or ssh (default from the URL, else git)
	Token         string // https token
	SSHKey        string // PEM deploy key
	SSHPassphrase string
	KnownHosts    string // known_hosts lines for ssh; empty uses the system's
	// Operator is set by the admin CLI: only the operator may register a
	// repository on packyard's own machine (a local path or file:// URL).
	Operator bool
}

// Source is a registered git repository and its sync status.
type Source struct {
	ID             string      `json:"id"`
	URL            string      `json:"url"`
	CredentialKind string      `json:"credential,omitempty"`
	Package        string      `json:"package,omitempty"`
	DefaultBranch  string      `json:"default_branch,omitempty"`
	Status         string      `json:"status"` // new, ok, error
	LastError      string      `json:"last_error,omitempty"`
	SyncedAt       *time.Time  `json:"synced_at,omitempty"`
	SyncDuration   int64       `json:"sync_duration_ms,omitempty"` // of the last sync
	Webhook        bool        `json:"webhook"`
	Refs           []RefStatus `json:"refs,omitempty"`
}

// RefStatus is what a sync made of one git ref.
type RefStatus struct {
	Ref     string `json:"ref"`
	Commit  string `json:"commit,omitempty"`
	Version string `json:"version,omitempty"`
	Warning string `json:"warning,omitempty"`
}

// SyncReport is the outcome of one source's sync.
type SyncReport struct {
	Source   string      `json:"source"`
	Package  string      `json:"package,omitempty"`
	Changed  int         `json:"changed_refs"`
	Removed  int         `json:"removed_refs"`
	Versions int         `json:"versions"`
	Warnings []RefStatus `json:"warnings,omitempty"`
	Error    string      `json:"error,omitempty"`
}

func sealContext(id string) string { return "composer-source:" + id }

// AddSource registers a git repository for an organization and returns it
// with its webhook secret ("" when no PACKYARD_SECRET_KEY is configured, in
// which case webhooks are off for it). It does not sync.
func (s *Service) AddSource(ctx context.Context, orgName string, in SourceInput) (Source, string, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return Source{}, "", err
	}
	in.URL = strings.TrimSpace(in.URL)
	if err := s.checkSourceURL(in); err != nil {
		return Source{}, "", err
	}
	id := metadata.NewID()
	kind := ""
	var plain []byte
	switch {
	case in.Token != "" && in.SSHKey != "":
		return Source{}, "", errs.Invalidf("give either a token or an SSH key, not both")
	case in.Token != "":
		kind = "token"
		plain, _ = json.Marshal(vcs.Creds{Token: in.Token})
	case in.SSHKey != "":
		kind = "ssh"
		plain, _ = json.Marshal(vcs.Creds{SSHKey: in.SSHKey, Passphrase: in.SSHPassphrase})
		if err := (vcs.Creds{Kind: "ssh", SSHKey: in.SSHKey, Passphrase: in.SSHPassphrase}).Check(in.URL); err != nil {
			return Source{}, "", err
		}
	}
	var sealed []byte
	if plain != nil {
		if sealed, err = s.box.Seal(plain, sealContext(id)); err != nil {
			return Source{}, "", err
		}
	}
	var secret string
	var sealedSecret []byte
	if s.box.Enabled() {
		var b [24]byte
		_, _ = rand.Read(b[:])
		secret = hex.EncodeToString(b[:])
		if sealedSecret, err = s.box.Seal([]byte(secret), sealContext(id)+":webhook"); err != nil {
			return Source{}, "", err
		}
	}
	err = s.store.insertSource(ctx, sourceRow{ID: id, OrgID: org.ID, URL: in.URL, Username: in.Username, Kind: kind, Credential: sealed,
		KnownHosts: in.KnownHosts, WebhookSecret: sealedSecret}, micros(s.repo.now()))
	if errors.Is(err, errs.ErrAlreadyExists) {
		return Source{}, "", errs.AlreadyExistsf("%s is already a source of %s", vcs.RedactURL(in.URL), org.Name)
	}
	if err != nil {
		return Source{}, "", err
	}
	audit.Record(ctx, s.audit, s.log, audit.Event{Action: "composer.source.add", Org: org.Name, Resource: vcs.RedactURL(in.URL),
		Details: map[string]string{"source": id, "credential": kind}})
	return Source{ID: id, URL: in.URL, CredentialKind: kind, Status: "new", Webhook: secret != ""}, secret, nil
}

// checkSourceURL accepts a git URL the outbound policy allows; a local
// repository only from the operator.
func (s *Service) checkSourceURL(in SourceInput) error {
	if err := vcs.CheckURL(in.URL); err != nil {
		return err
	}
	if vcs.IsLocal(in.URL) {
		if !in.Operator {
			return errs.Invalidf("a local path or file:// URL can be registered only by the operator (packyard composer add-vcs)")
		}
		return nil
	}
	if strings.HasPrefix(in.URL, "http://") || strings.HasPrefix(in.URL, "https://") {
		return s.guard.CheckURL(in.URL)
	}
	return s.guard.CheckHost(vcs.Host(in.URL)) // ssh
}

// RemoveSource unregisters a git repository, named by its URL or its id;
// the versions it gave leave the repository (their archives stay
// downloadable for lock files).
func (s *Service) RemoveSource(ctx context.Context, orgName, urlOrID string) error {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return err
	}
	src, err := s.sourceByURL(ctx, org, urlOrID)
	if err != nil {
		return err
	}
	err = s.repo.write(ctx, org, nil, func(tx *sqldb.Tx, touched map[string]string) error {
		pkgs, err := s.store.sourcePackages(ctx, tx, src.ID)
		if err != nil {
			return err
		}
		maps.Copy(touched, pkgs)
		return s.store.deleteSource(ctx, tx, src.ID)
	})
	if err != nil {
		return err
	}
	s.mirrors.drop(src.ID)
	audit.Record(ctx, s.audit, s.log, audit.Event{Action: "composer.source.remove", Org: org.Name, Resource: vcs.RedactURL(src.URL),
		Details: map[string]string{"source": src.ID}})
	return nil
}

func (s *Service) sourceByURL(ctx context.Context, org orgRef, rawURL string) (sourceRow, error) {
	src, err := s.store.sourceByURL(ctx, org.ID, strings.TrimSpace(rawURL))
	if errors.Is(err, errs.ErrNotFound) {
		// Also its id, as listed (the API names sources by id).
		if byID, idErr := s.store.sourceByID(ctx, strings.TrimSpace(rawURL)); idErr == nil && byID.OrgID == org.ID {
			return byID, nil
		}
		return src, errs.NotFoundf("%s is not a source of %s (see packyard composer list-vcs)", vcs.RedactURL(rawURL), org.Name)
	}
	return src, err
}

func (s *Service) sourceByID(ctx context.Context, id string) (sourceRow, error) {
	src, err := s.store.sourceByID(ctx, id)
	if errors.Is(err, errs.ErrNotFound) {
		return src, errs.NotFoundf("source not found")
	}
	return src, err
}

// Sources lists an organization's git sources with every ref's outcome.
func (s *Service) Sources(ctx context.Context, orgName string) ([]Source, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	raw, err := s.store.sources(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	out := []Source{}
	for _, r := range raw {
		src, err := s.sourceView(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// SourceOf is one source of an organization, by id, with every ref's outcome.
func (s *Service) SourceOf(ctx context.Context, orgName, sourceID string) (Source, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return Source{}, err
	}
	r, err := s.sourceByID(ctx, sourceID)
	if err == nil && r.OrgID != org.ID {
		err = errs.NotFoundf("source not found") // another organization's is not found either
	}
	if err != nil {
		return Source{}, err
	}
	return s.sourceView(ctx, r)
}

// sourceView is a stored source as it is shown: credentials left out, the
// URL redacted.
func (s *Service) sourceView(ctx context.Context, r sourceRow) (Source, error) {
	src := Source{ID: r.ID, URL: vcs.RedactURL(r.URL), CredentialKind: r.Kind, Package: r.Package, DefaultBranch: r.DefaultBranch,
		Status: r.Status, LastError: r.LastError, Webhook: len(r.WebhookSecret) > 0, SyncDuration: r.SyncMillis}
	if r.SyncedAt.Valid {
		t := fromMicros(r.SyncedAt.Int64)
		src.SyncedAt = &t
	}
	refs, err := s.store.refStatuses(ctx, r.ID)
	if len(refs) > 0 {
		src.Refs = refs
	}
	return src, err
}

// RequestSync queues a sync of an organization's source for the
// background workers (the durable job queue, as a webhook does), as
// pressed in the web UI; the source's SyncedAt moves when it ends.
func (s *Service) RequestSync(ctx context.Context, orgName, sourceID string) error {
	src, err := s.SourceOf(ctx, orgName, sourceID)
	if err != nil {
		return err
	}
	return s.queueSync(ctx, orgName, src.ID, "web")
}

// Sync syncs every source of an organization, or the one with rawURL. It
// returns a report per source and an error when any sync failed.
func (s *Service) Sync(ctx context.Context, orgName, rawURL string) ([]SyncReport, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return nil, err
	}
	var ids []string
	if rawURL != "" {
		src, err := s.sourceByURL(ctx, org, rawURL)
		if err != nil {
			return nil, err
		}
		ids = []string{src.ID}
	} else if ids, err = s.store.sourceIDs(ctx, org.ID); err != nil {
		return nil, err
	}
	var reports []SyncReport
	var failed []error
	for _, id := range ids {
		s.recordSync(ctx, org.Name, id, "cli")
		rep, err := s.SyncSource(ctx, id)
		reports = append(reports, rep)
		if err != nil {
			failed = append(failed, err)
		}
	}
	return reports, errors.Join(failed...)
}

// SyncOf syncs a source of an organization now, as asked through the API.
func (s *Service) SyncOf(ctx context.Context, orgName, sourceID string) (SyncReport, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return SyncReport{}, err
	}
	src, err := s.sourceByID(ctx, sourceID)
	if errors.Is(err, errs.ErrNotFound) || (err == nil && src.OrgID != org.ID) {
		return SyncReport{}, errs.NotFoundf("source not found") // another organization's is not found either
	}
	if err != nil {
		return SyncReport{}, err
	}
	s.recordSync(ctx, org.Name, src.ID, "api")
	return s.SyncSource(ctx, src.ID)
}

// recordSync records that someone triggered a sync of a source.
func (s *Service) recordSync(ctx context.Context, org, sourceID, trigger string) {
	resource := "source/" + sourceID
	if src, err := s.sourceByID(ctx, sourceID); err == nil {
		resource = vcs.RedactURL(src.URL)
	}
	audit.Record(ctx, s.audit, s.log, audit.Event{Action: "composer.sync", Org: org, Resource: resource,
		Details: map[string]string{"source": sourceID, "trigger": trigger}})
}
