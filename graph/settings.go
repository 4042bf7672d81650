package graph

import (
	"github.com/ottr/backend/graph/model"
	"github.com/ottr/backend/internal/domain/project"
)

// toSettingsUpdate keeps a field left out (unchanged) apart from one sent
// as null.
func toSettingsUpdate(in model.ProjectSettingsInput) project.SettingsUpdate {
	var u project.SettingsUpdate
	u.ExpireOnTime, u.SetExpireOnTime = in.ExpireOnTime.ValueOK()
	u.RemindBeforeSeconds, u.SetReminder = in.RemindBeforeSeconds.ValueOK()
	return u
}
