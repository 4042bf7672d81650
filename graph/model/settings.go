package model

import "github.com/99designs/gqlgen/graphql"

// ProjectSettingsInput tells a field left out (unchanged) from one sent as
// null (for remindBeforeSeconds: no reminder).
type ProjectSettingsInput struct {
	ExpireOnTime        graphql.Omittable[*bool] `json:"expireOnTime,omitempty"`
	RemindBeforeSeconds graphql.Omittable[*int]  `json:"remindBeforeSeconds,omitempty"`
}
