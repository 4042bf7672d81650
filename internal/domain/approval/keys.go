package approval

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/page"
	"github.com/ottr/backend/internal/platform/store"
)

// DefaultKeysPageSize is the number of keys in a page when none is asked
// for.
const DefaultKeysPageSize = 50

// KeyValue is one entry of a project's key/value store. Value is nil for a
// key that an approval names but nothing has set yet.
type KeyValue struct {
	ProjectID string
	Path      string
	Value     *string
	UpdatedAt time.Time
}

// TableName pins the table name.
func (KeyValue) TableName() string { return "key_values" }

// keyValueColumns are KeyValue's columns in the order of its fields.
const keyValueColumns = "project_id, path, value, updated_at"

// Keys is the project's key/value store.
type Keys struct{ svc *Service }

// Keys returns the key/value store, which shares the service's clock.
func (s *Service) Keys() *Keys { return &Keys{svc: s} }

// Set writes a key (MEMBER and up, or a WRITE key).
func (k *Keys) Set(ctx context.Context, projectID, path, value string) (*KeyValue, error) {
	if err := apperr.CheckTexts("projectId", projectID, "path", path, "value", value); err != nil {
		return nil, err
	}
	if _, err := k.svc.authz.Authorize(ctx, projectID, project.WriteData); err != nil {
		return nil, err
	}
	if err := validateKeyPath("path", path); err != nil {
		return nil, err
	}
	if err := checkLength("value", value, MaxValueLen); err != nil {
		return nil, err
	}
	kv := KeyValue{ProjectID: projectID, Path: path, Value: &value, UpdatedAt: k.svc.now()}
	if err := k.svc.writeKey(ctx, kv, true); err != nil {
		return nil, err
	}
	return &kv, nil
}

// writeKey upserts a key; without overwrite it only makes sure the key
// exists and leaves a present one as it is.
func (s *Service) writeKey(ctx context.Context, kv KeyValue, overwrite bool) error {
	conflict := clause.OnConflict{Columns: []clause.Column{{Name: "project_id"}, {Name: "path"}}, DoNothing: true}
	if overwrite {
		conflict = clause.OnConflict{Columns: conflict.Columns, DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"})}
	}
	if err := s.store.DB(ctx).Clauses(conflict).Create(&kv).Error; err != nil {
		return fmt.Errorf("write key %s in %s: %w", kv.Path, kv.ProjectID, err)
	}
	return nil
}

// Get reads a key; nil when there is no such key.
func (k *Keys) Get(ctx context.Context, projectID, path string) (*KeyValue, error) {
	if err := apperr.CheckTexts("projectId", projectID, "path", path); err != nil {
		return nil, err
	}
	if _, err := k.svc.authz.Authorize(ctx, projectID, project.Read); err != nil {
		return nil, err
	}
	if err := validateKeyPath("path", path); err != nil {
		return nil, err
	}
	var kv KeyValue
	err := k.svc.store.DB(ctx).Where("project_id = ? AND path = ?", projectID, path).Take(&kv).Error
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key %s in %s: %w", path, projectID, err)
	}
	return &kv, nil
}

// List returns a project's keys in path order, optionally those under a
// prefix only.
func (k *Keys) List(ctx context.Context, projectID string, prefix *string, args page.Args) (page.Page[KeyValue], error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return page.Page[KeyValue]{}, err
	}
	if prefix != nil {
		if err := apperr.CheckText("prefix", *prefix); err != nil {
			return page.Page[KeyValue]{}, err
		}
	}
	var none page.Page[KeyValue]
	if _, err := k.svc.authz.Authorize(ctx, projectID, project.Read); err != nil {
		return none, err
	}
	w, err := args.Window(DefaultKeysPageSize, 1)
	if err != nil {
		return none, err
	}
	db := k.svc.store.DB(ctx).Where("project_id = ?", projectID)
	if prefix != nil && *prefix != "" {
		if err := checkLength("prefix", *prefix, MaxPathLen); err != nil {
			return none, err
		}
		db = withPrefix(db, "path", *prefix)
	}
	var total *int
	if w.Total {
		n, err := page.Count(db, &KeyValue{})
		if err != nil {
			return none, fmt.Errorf("count keys of %s: %w", projectID, err)
		}
		total = &n
	}
	// GORM builds the statement; the rows are scanned without its reflection.
	q, qargs, err := store.Built(page.Fetch(db.Select(keyValueColumns), w, page.Order{{Name: "path"}},
		pathCursor(w.After), pathCursor(w.Before)), &[]KeyValue{})
	if err != nil {
		return none, fmt.Errorf("build the list of keys of %s: %w", projectID, err)
	}
	rows := make([]KeyValue, 0, w.Size+1)
	err = k.svc.store.Each(ctx, q, qargs, func(scan func(...any) error) error {
		var kv KeyValue
		if err := scan(&kv.ProjectID, &kv.Path, &kv.Value, &kv.UpdatedAt); err != nil {
			return err
		}
		rows = append(rows, kv)
		return nil
	})
	if err != nil {
		return none, fmt.Errorf("list keys of %s: %w", projectID, err)
	}
	p := page.Cut(rows, w, func(kv KeyValue) string { return page.Encode(kv.Path) },
		func(kv KeyValue) KeyValue { return kv })
	p.TotalCount = total
	return p, nil
}

func pathCursor(parts []string) []any {
	if parts == nil {
		return nil
	}
	return []any{parts[0]}
}

// PendingFor is the newest approval of a key that can still be executed,
// or nil.
func (k *Keys) PendingFor(ctx context.Context, projectID, path string) (*Approval, error) {
	if err := apperr.CheckTexts("projectId", projectID, "path", path); err != nil {
		return nil, err
	}
	if err := validateKeyPath("path", path); err != nil {
		return nil, err
	}
	pending, err := k.PendingForPaths(ctx, projectID, []string{path})
	if err != nil {
		return nil, err
	}
	return pending[path], nil
}

// PendingForPaths is PendingFor for many keys of a project in one query,
// for a page of keys: a key without one is absent from the map.
func (k *Keys) PendingForPaths(ctx context.Context, projectID string, paths []string) (map[string]*Approval, error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, err
	}
	if _, err := k.svc.authz.Authorize(ctx, projectID, project.Read); err != nil {
		return nil, err
	}
	pending := make(map[string]*Approval, len(paths))
	if len(paths) == 0 {
		return pending, nil
	}
	now := k.svc.now()
	q := k.svc.store.DB(ctx).
		Where("project_id = ? AND key_path IN ? AND status = ? AND expires_at > ?", projectID, paths, Pending, now).
		Order("created_at DESC, id DESC")
	if len(paths) == 1 {
		q = q.Limit(1) // the newest is the one: a single key reads no more
	}
	err := k.svc.eachRow(ctx, q, AllFields, func(r *row) error {
		if _, newer := pending[r.KeyPath]; newer {
			return nil
		}
		a, err := r.approval(now)
		if err != nil {
			return err
		}
		pending[r.KeyPath] = &a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find pending approvals of %d keys in %s: %w", len(paths), projectID, err)
	}
	return pending, nil
}
