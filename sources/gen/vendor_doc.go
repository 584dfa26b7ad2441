package gen

// Vendor payloads (VendorEncoder, ProduceVendor)
//
// `salespulse gen --format vendor` renders the generated organisation as the
// payloads real vendors send, so the vendor decoders, the privacy stage and
// the sinks can be run end to end against a known truth. Odd-numbered teams
// (team-01, team-03, ...) work in Salesforce, even-numbered ones in HubSpot.
//
// Mapping (generator interaction → vendor record; "lead" = it has a lead_id):
//
//	lead.created                    SF team: Salesforce Lead CDC CREATE (Pub/Sub or CometD shape, 50/50)
//	                                HubSpot team: contact.creation in a webhook array (half with a skipped lifecyclestage change)
//	message.outbound, no lead       Microsoft Graph message resource from the rep's mailbox (a quarter as a one-message delta page)
//	message.outbound, lead          SF team: Task CREATE, TaskSubtype Email, WhoId = the lead; HubSpot team: canonical
//	call.outbound, no lead          Aircall call.ended (half) or Twilio (half of those the call resource JSON,
//	                                half form-encoded status callbacks)
//	call.inbound/outbound, lead     SF team: Task CREATE, CallType Inbound/Outbound, CompletedDateTime = call start; HubSpot team: canonical
//	meeting.held, no lead           Zoom meeting.ended (half with a participants list)
//	meeting.held, lead              SF team: Event CREATE logged after the meeting, WhoId = the lead; HubSpot team: canonical
//	opportunity.stage_changed,
//	deal.won, deal.lost             SF team: Opportunity CDC UPDATE of StageName, enriched with OwnerId, AccountId,
//	                                Amount, CurrencyIsoCode (IsWon/IsClosed on closing)
//	                                HubSpot team: deal.propertyChange of dealstage (default pipeline stage ids)
//	quote.created                   SF team: SBQQ__QuoteLine__c CDC CREATE committed by the rep; HubSpot team: canonical
//	message.inbound, social.*,
//	approval.*                      canonical JSON (schemas.AppendJSON)
//
// Touches with a lead stay where lead_id survives (Salesforce Task/Event,
// canonical), so lead response time stays computable: Graph, Zoom, Aircall
// and Twilio carry no lead id. Inbound messages and calls in the generator
// always concern a lead, so they never go to Graph, Aircall or Twilio.
//
// Ids. Canonical records of a lead carry the lead id of the team's CRM, so
// they pair with that CRM's lead.created: Salesforce 00Q ids
// (salesforceID("00Q", n) of the generator's lead number), HubSpot
// "hs:<portal>:<50000+n>" (portal 20000000 + seed % 1e6). Salesforce teams'
// account ids are 001 ids of the generator's account number, in Salesforce
// payloads and canonical records alike; HubSpot teams keep the generator's
// account ids (no HubSpot mapping emits accounts). Event ids are the
// decoders' own (sf:<transactionKey>:<seq>:<recordId>, hs:<portal>:<sub>:<eventId>,
// zoom:<uuid>, graph:<hash>, aircall:<id>, twilio:<sid>); canonical records
// keep the generator's gen-<seed>-<n>. VendorRecord.Expected names them.
//
// What a vendor cannot carry (absent from Expected):
//
//	Salesforce Lead        account_id (a Lead has none)
//	Salesforce Task/Event  contact (Tasks and Events name the lead, not an address); Event duration in whole minutes
//	Salesforce Opportunity nothing lost (enriched)
//	Salesforce quote line  account_id, stage (a line names neither)
//	HubSpot contact        contact, account_id
//	HubSpot deal stage     amount, currency, account_id; stage becomes the internal stage id
//	Zoom                   account_id, lead_id; contact only with a participants list; time to the second
//	Graph                  account_id, lead_id; time to the second
//	Aircall                account_id, lead_id, contact e-mail; contact name only when Aircall knows the contact; time to the second
//	Twilio                 account_id, lead_id, contact name and e-mail; time to the second
//	canonical              nothing (ids translated as above)
//
// Salesforce stage labels: Prospecting, Qualification, Needs Analysis,
// Proposal/Price Quote, Negotiation/Review, Closed Won, Closed Lost. HubSpot:
// appointmentscheduled, qualifiedtobuy, presentationscheduled,
// decisionmakerboughtin, contractsent, closedwon, closedlost.
//
// Noise the decoders must skip (VendorRecord.Expected empty, or extra events
// in a HubSpot body): Zoom meeting.started and meeting.participant_joined;
// Graph change notifications and rep-to-rep mail; Aircall call.created and
// call.answered; Twilio ringing and in-progress callbacks; Salesforce Event
// IsChild invitee copies (separate records, or in one JSON array with the
// parent), Task DELETEs, Opportunity updates that leave the stage alone;
// HubSpot deal.creation, hubspot_owner_id changes and lifecyclestage
// changes, in the same body as a real event or alone.
//
// Every record of an interaction carries the canonical partition key (lead
// id, else account id, else rep id of the generator), so with equal
// partition counts a lead's records share a partition number in every topic.
