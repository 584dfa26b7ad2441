package hubspot

// changeSources is HubSpot's documented list of change sources: the values
// of a webhook event's changeSource ("the source of the change. This can be
// any of the change sources that appear in contact property histories",
// Webhooks API, https://developers.hubspot.com/docs/api/webhooks#webhook-payloads),
// i.e. the sourceType enum of the CRM objects APIs' property history
// (PropertyHistory.sourceType). lead_change_sources is validated against it
// so that a typo does not silently stop every lead.
var changeSources = map[string]bool{}

func init() {
	for _, s := range []string{
		"ACADEMY", "ACCEPTANCE_TEST", "ACTIVITY_AUTO_ASSOCIATE", "ADS", "AI_GROUP", "ANALYTICS", "API", "APPROVALS",
		"ASSISTS", "ASSOCIATIONS", "AUTO_ASSOCIATE_BY_DOMAIN", "AUTOMATION_JOURNEY", "AUTOMATION_PLATFORM",
		"AVATARS_SERVICE", "BATCH_UPDATE", "BCC_TO_CRM", "BEHAVIORAL_EVENTS", "BET_ASSIGNMENT", "BET_CRM_CONNECTOR",
		"BIDEN", "BILLING", "BOT", "CALCULATED", "CENTRAL_EXCHANGE_RATES", "CHATSPOT", "CLONE_OBJECTS", "COMMUNICATOR",
		"COMPANIES", "COMPANY_FAMILIES", "COMPANY_INSIGHTS", "CONTACTS", "CONTACTS_WEB", "CONTENT_MEMBERSHIP",
		"CONVERSATIONAL_ENRICHMENT", "CONVERSATIONS", "CRM_PROCESSES_PLATFORM", "CRM_UI", "CRM_UI_BULK_ACTION",
		"CUSTOMER_AGENT", "DATA_ENRICHMENT", "DATASET", "DEALS", "DEFAULT", "DELETE_OBJECTS", "EMAIL",
		"EMAIL_INBOX_IMPORT", "EMAIL_INTEGRATION", "ENGAGEMENTS", "EXTENSION", "FILE_MANAGER",
		"FLYWHEEL_PRODUCT_DATA_SYNC", "FORECASTING", "FORM", "FORWARD_TO_CRM", "GMAIL_INTEGRATION", "GOALS",
		"HEISENBERG", "HELP_DESK", "HELP_DESK_AI", "IMPORT", "INTEGRATION", "INTEGRATIONS_PLATFORM",
		"INTEGRATIONS_SYNC", "INTENT", "INTERNAL_PROCESSING", "LEADIN", "LEGAL_BASIS_REMEDIATION", "MARKET_SOURCING",
		"MARKETPLACE", "MEETINGS", "MERGE_COMPANIES", "MERGE_CONTACTS", "MERGE_OBJECTS", "MICROAPPS", "MIGRATION",
		"MOBILE_ANDROID", "MOBILE_IOS", "PAYMENTS", "PIPELINE_SETTINGS", "PLAYBOOKS", "PORTAL_OBJECT_SYNC",
		"PORTAL_USER_ASSOCIATOR", "PRESENTATIONS", "PRIMARY_AUTOMATION", "PROPERTY_RESTORE", "PROPERTY_SETTINGS",
		"PROSPECTING_AGENT", "QUOTAS", "QUOTES", "RECYCLING_BIN", "RESTORE_OBJECTS", "SALES", "SALES_MESSAGES",
		"SALESFORCE", "SEQUENCES", "SETTINGS", "SIDEKICK", "SIGNALS", "SLACK_INTEGRATION", "SOCIAL", "SUCCESS",
		"TALLY", "TASK", "UNKNOWN", "WAL_INCREMENTAL", "WORKFLOW_CONTACT_DELETE_ACTION", "WORKFLOWS",
	} {
		changeSources[s] = true
	}
}

// DefaultLeadChangeSources are the change sources whose contact creations
// open a lead by default: a person reaching in (a HubSpot or third-party
// form — ANALYTICS is HubSpot's source for non-HubSpot forms —, chat,
// chatbot, a booked meeting) or a rep entering a contact by hand (CRM UI,
// the older contacts web app, the mobile apps), typically right after a
// first contact. Bulk and machine sources (IMPORT, API, INTEGRATION,
// INTEGRATIONS_SYNC, SALESFORCE sync, MIGRATION, BATCH_UPDATE,
// CRM_UI_BULK_ACTION, WORKFLOWS, mail integrations, …) are left out: a
// list import of 5,000 contacts is not 5,000 leads waiting for an answer.
var DefaultLeadChangeSources = []string{
	"CRM_UI", "CONTACTS_WEB", "MOBILE_IOS", "MOBILE_ANDROID", "FORM", "ANALYTICS", "CONVERSATIONS", "BOT", "MEETINGS",
}
