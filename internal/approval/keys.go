package approval

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/ottr/backend/internal/page"
	"github.com/ottr/backend/internal/project"
	"github.com/ottr/backend/internal/store"
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

// Keys is the project's key/value store.
type Keys struct{ svc *Service }

// Keys returns the key/value store, which shares the service's clock.
func (s *Service) Keys() *Keys { return &Keys{svc: s} }

// Set writes a key (MEMBER and up, or a WRITE key).
func (k *Keys) Set(ctx context.Context, projectID, path, value string) (*KeyValue, error) {
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
	var none page.Page[KeyValue]
	if _, err := k.svc.authz.Authorize(ctx, projectID, project.Read); err != nil {
		return none, err
	}
	size, err := args.Size(DefaultKeysPageSize)
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
	parts, ok, err := args.Cursor(1)
	if err != nil {
		return none, err
	}
	if ok {
		db = db.Where("path > ?", parts[0])
	}
	var rows []KeyValue
	if err := db.Order("path").Limit(size + 1).Find(&rows).Error; err != nil {
		return none, fmt.Errorf("list keys of %s: %w", projectID, err)
	}
	return page.Cut(rows, size, func(kv KeyValue) string { return page.Encode(kv.Path) },
		func(kv KeyValue) KeyValue { return kv }), nil
}

// PendingFor is the newest approval of a key that can still be executed,
// or nil.
func (k *Keys) PendingFor(ctx context.Context, projectID, path string) (*Approval, error) {
	if _, err := k.svc.authz.Authorize(ctx, projectID, project.Read); err != nil {
		return nil, err
	}
	now := k.svc.now()
	var r row
	err := k.svc.store.DB(ctx).
		Where("project_id = ? AND key_path = ? AND status = ? AND expires_at > ?", projectID, path, Pending, now).
		Order("created_at DESC, id DESC").Take(&r).Error
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find pending approval of %s in %s: %w", path, projectID, err)
	}
	a, err := r.approval(now)
	if err != nil {
		return nil, err
	}
	return &a, nil
}
