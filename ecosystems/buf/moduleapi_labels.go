package buf

import (
	"net/http"
	"time"

	"github.com/packyard/packyard/pkg/api"
	"github.com/packyard/packyard/pkg/errs"
)

// APILabel is a label as the admin API answers it.
type APILabel struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CommitID   string     `json:"commit_id"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ArchivedAt *time.Time `json:"archived_at"`
}

func labelOf(l Label) APILabel {
	out := APILabel{ID: l.ID, Name: l.Name, CommitID: l.CommitID, CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt}
	if !l.ArchivedAt.IsZero() {
		t := l.ArchivedAt
		out.ArchivedAt = &t
	}
	return out
}

// APICommit is a commit as the admin API answers it.
type APICommit struct {
	ID        string    `json:"id"`
	Digest    string    `json:"digest"` // b5 (shake256) hex
	CreatedAt time.Time `json:"created_at"`
}

func (a *moduleAPI) labels(w http.ResponseWriter, r *http.Request) error {
	p, err := api.ParsePage(r.URL.Query())
	if err != nil {
		return err
	}
	archived := archivedExclude
	switch v := r.URL.Query().Get("archived"); v {
	case "", "false":
	case "true":
		archived = archivedOnly
	case "all":
		archived = archivedAll
	default:
		return errs.Invalidf("archived %q: use false (the default), true or all", v)
	}
	ref := ResourceRef{Owner: r.PathValue("owner"), Module: r.PathValue("module")}
	ls, err := a.s.ListLabels(r.Context(), ref, "", archived, false, bufPage(p, false))
	if err != nil {
		return err
	}
	out := make([]APILabel, 0, len(ls))
	for _, l := range ls {
		out = append(out, labelOf(l))
	}
	api.WriteJSON(w, http.StatusOK, api.More(out, p))
	return nil
}

func pathLabel(r *http.Request) LabelRef {
	return LabelRef{Owner: r.PathValue("owner"), Module: r.PathValue("module"), Label: r.PathValue("label")}
}

type setLabelRequest struct {
	CommitID string `json:"commit_id"`
}

// setLabel creates a label on a commit or moves it there.
func (a *moduleAPI) setLabel(w http.ResponseWriter, r *http.Request) error {
	var req setLabelRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	if req.CommitID == "" {
		return errs.Invalidf("commit_id is required: the commit the label points to")
	}
	l, err := a.s.SetLabel(r.Context(), pathLabel(r), req.CommitID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, labelOf(l))
	return nil
}

type archiveLabelRequest struct {
	Archived *bool `json:"archived"`
}

func (a *moduleAPI) archiveLabel(w http.ResponseWriter, r *http.Request) error {
	var req archiveLabelRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	if req.Archived == nil {
		return errs.Invalidf(`nothing to change: send {"archived": true} or {"archived": false}`)
	}
	ref := pathLabel(r)
	if err := a.s.ArchiveLabel(r.Context(), ref, *req.Archived); err != nil {
		return err
	}
	l, err := a.s.GetLabel(r.Context(), ref)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, labelOf(l))
	return nil
}

func (a *moduleAPI) commits(w http.ResponseWriter, r *http.Request) error {
	p, err := api.ParsePage(r.URL.Query())
	if err != nil {
		return err
	}
	ref := ResourceRef{Owner: r.PathValue("owner"), Module: r.PathValue("module")}
	cs, err := a.s.ListCommits(r.Context(), ref, "", bufPage(p, true))
	if err != nil {
		return err
	}
	out := make([]APICommit, 0, len(cs))
	for _, c := range cs {
		out = append(out, APICommit{ID: c.ID, Digest: c.B5, CreatedAt: c.CreatedAt})
	}
	api.WriteJSON(w, http.StatusOK, api.More(out, p))
	return nil
}
