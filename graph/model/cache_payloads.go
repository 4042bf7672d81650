package model

// RemoveSlackChannelPayload is what removeSlackChannelV2 removed, with the
// project it belonged to for a cache to update.
type RemoveSlackChannelPayload struct {
	RemovedChannelID string `json:"removedChannelId"`
	ProjectID        string `json:"-"`
}

// RemoveWebhookEndpointPayload is what removeWebhookEndpoint removed, with
// the project it belonged to.
type RemoveWebhookEndpointPayload struct {
	RemovedEndpointID string `json:"removedEndpointId"`
	ProjectID         string `json:"-"`
}

// RemoveProjectMemberPayload is what removeProjectMemberV2 removed, with
// the project, which the caller may no longer see.
type RemoveProjectMemberPayload struct {
	RemovedMemberID string `json:"removedMemberId"`
	UserID          string `json:"userId"`
	ProjectID       string `json:"-"`
}

// AddWebhookEndpointPayload is a new endpoint and its signing secret.
type AddWebhookEndpointPayload struct {
	Endpoint *WebhookEndpoint `json:"endpoint"`
	Secret   string           `json:"secret"`
}
