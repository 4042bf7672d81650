package project

import (
	"context"
	"fmt"
	"time"

	"github.com/ottr/backend/internal/platform/apperr"
)

// MaxApprovalTTL is the longest an approval may live (approval.MaxTTL,
// which a test keeps equal): a reminder must come after its creation.
const MaxApprovalTTL = 30 * 24 * time.Hour

// MaxRemindBeforeSeconds is the largest remindBeforeSeconds: below the
// longest TTL.
const MaxRemindBeforeSeconds = int(MaxApprovalTTL/time.Second) - 1

// Settings are a project's choices about its approvals' deadlines. Both
// are off by default, as the hosted service documents: an approval expires
// only when someone tries to use it, and nobody is reminded.
type Settings struct {
	// ExpireOnTime makes a pending approval EXPIRED (recording
	// APPROVAL_EXPIRED) when its time runs out, without an access attempt.
	ExpireOnTime bool
	// RemindBeforeSeconds, when set, records APPROVAL_EXPIRING this many
	// seconds before a pending approval expires.
	RemindBeforeSeconds *int
}

// SettingsUpdate changes the settings whose Set field is true; the others
// stay as they are.
type SettingsUpdate struct {
	SetExpireOnTime bool
	ExpireOnTime    *bool // nil is refused: it has no meaning
	SetReminder     bool
	// RemindBeforeSeconds nil turns reminders off.
	RemindBeforeSeconds *int
}

// settingsRow is the settings' columns of a projects row.
type settingsRow struct {
	ExpireOnTime        bool
	RemindBeforeSeconds *int
}

// Settings returns a project's settings to anyone who may read it.
func (s *Service) Settings(ctx context.Context, projectID string) (*Settings, error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, projectID, ReadSettings); err != nil {
		return nil, err
	}
	return s.loadSettings(ctx, projectID)
}

func (s *Service) loadSettings(ctx context.Context, projectID string) (*Settings, error) {
	var rows []settingsRow
	err := s.store.DB(ctx).Raw(`SELECT expire_on_time, remind_before_seconds FROM projects WHERE id = ?`, projectID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load settings of project %s: %w", projectID, err)
	}
	if len(rows) == 0 {
		return nil, apperr.NotFound("project")
	}
	return &Settings{ExpireOnTime: rows[0].ExpireOnTime, RemindBeforeSeconds: rows[0].RemindBeforeSeconds}, nil
}

// OnDeadlineOptIn has f called after each update that turns expireOnTime
// or a reminder on, so that this instance starts sweeping at once rather
// than when it next reads the opt-ins. Call it before serving.
func (s *Service) OnDeadlineOptIn(f func()) { s.onDeadlineOptIn = f }

// UpdateSettings changes a project's settings (OWNER or ADMIN) and returns
// the project.
func (s *Service) UpdateSettings(ctx context.Context, projectID string, u SettingsUpdate) (*Project, error) {
	if err := apperr.CheckTexts("projectId", projectID); err != nil {
		return nil, err
	}
	if _, err := s.authz.Authorize(ctx, projectID, ManageSettings); err != nil {
		return nil, err
	}
	changes := map[string]any{}
	var problems apperr.Problems
	if u.SetExpireOnTime {
		if u.ExpireOnTime == nil {
			problems.Add(apperr.Invalid("expireOnTime", "expireOnTime must be true or false; leave it out to keep it"))
		} else {
			changes["expire_on_time"] = *u.ExpireOnTime
		}
	}
	if u.SetReminder {
		if r := u.RemindBeforeSeconds; r != nil && (*r < 1 || *r > MaxRemindBeforeSeconds) {
			problems.Add(apperr.Invalid("remindBeforeSeconds",
				"remindBeforeSeconds must be 1 to %d (below the longest TTL), or null for no reminder", MaxRemindBeforeSeconds))
		}
		changes["remind_before_seconds"] = u.RemindBeforeSeconds
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	if len(changes) > 0 {
		if err := s.store.DB(ctx).Model(&Project{}).Where("id = ?", projectID).Updates(changes).Error; err != nil {
			return nil, fmt.Errorf("update settings of project %s: %w", projectID, err)
		}
		if s.onDeadlineOptIn != nil && ((u.SetExpireOnTime && *u.ExpireOnTime) || (u.SetReminder && u.RemindBeforeSeconds != nil)) {
			s.onDeadlineOptIn()
		}
	}
	return s.load(ctx, projectID)
}
