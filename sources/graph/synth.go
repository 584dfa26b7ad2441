package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// synth renders generated interactions as Microsoft Graph message
// resources: outbound mail without a lead (docs/sources.md, "Synthetic
// payloads", has the whole mapping).
type synth struct{}

func (synth) Carries(in *schemas.Interaction, rep *vendorkit.SynthRep) vendorkit.Carry {
	return vendorkit.CarryWithoutLead(in, rep, schemas.TypeMessageOutbound)
}

func (synth) Encode(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	graph(e, in, key, rep)
}

// graph renders an outbound mail as the message resource a connector
// fetches from the rep's mailbox: sometimes preceded by the change
// notification that announced it, sometimes as a one-message delta page;
// now and then a colleague gets an internal mail (skipped).
func graph(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	sent := in.OccurredAt.Truncate(time.Second)
	msgID := "AAMkAGI2TG93AAA=" + strconv.FormatUint(e.Seq, 36)
	if e.Rand.IntN(3) == 0 {
		n := e.Record(key)
		b := append(n.Value, `{"value":[{"subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","subscriptionExpirationDateTime":"2026-12-30T18:23:45.9356913Z","changeType":"created","resource":"Users/`...)
		b = append(b, vendorkit.First(rep.Mailboxes)...)
		b = append(b, `/Messages/`...)
		b = append(b, msgID...)
		b = append(b, `","resourceData":{"@odata.type":"#Microsoft.Graph.Message","@odata.id":"Users/`...)
		b = append(b, vendorkit.First(rep.Mailboxes)...)
		b = append(b, `/Messages/`...)
		b = append(b, msgID...)
		b = append(b, `","id":"`...)
		b = append(b, msgID...)
		n.Value = append(b, `"},"clientState":"secretClientValue","tenantId":"84bd8158-6d4d-4958-8b9f-9d6445542f95"}]}`...)
	}
	imid := "<" + strconv.FormatUint(e.Seq, 10) + "." + e.SeedText + "@" + e.MailDomain + ">"
	subject := e.Subject(in)
	r := e.Record(key)
	page := e.Rand.IntN(4) == 0
	b := r.Value
	if page {
		b = append(b, `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(message)","value":[`...)
	}
	b = graphMessage(e, b, msgID, imid, subject, sent, rep.Name, vendorkit.First(rep.Mailboxes), in.Contact.Name, in.Contact.Email)
	if page {
		b = append(b, `],"@odata.deltaLink":"https://graph.microsoft.com/v1.0/me/mailFolders('sentitems')/messages/delta?$deltatoken=`...)
		b = strconv.AppendUint(b, e.Seq, 36)
		b = append(b, `"}`...)
	}
	r.Value = b
	if e.Expect {
		w := e.Want(r, in, graphEventID(imid, in.Type))
		w.OccurredAt = sent
		w.Contact = schemas.Contact{Email: in.Contact.Email, Name: in.Contact.Name}
	}
	if e.Rand.IntN(10) == 0 && rep.Colleague != rep {
		c := rep.Colleague
		m := e.Record(key)
		m.Value = graphMessage(e, m.Value, msgID+"i", "<i"+strconv.FormatUint(e.Seq, 10)+"."+e.SeedText+"@"+e.MailDomain+">",
			"Handover: "+subject, sent, rep.Name, vendorkit.First(rep.Mailboxes), c.Name, vendorkit.First(c.Mailboxes))
	}
}

func graphMessage(e *vendorkit.Synth, b []byte, id, imid, subject string, sent time.Time, fromName, fromAddr, toName, toAddr string) []byte {
	addr := func(b []byte, name, address string) []byte {
		b = append(b, `{"emailAddress":{"name":`...)
		b = schemas.AppendJSONString(b, name)
		b = append(b, `,"address":`...)
		b = schemas.AppendJSONString(b, address)
		return append(b, "}}"...)
	}
	b = append(b, `{"@odata.etag":"W/\"CQAAABYAAAAiIsqMbYjsT5e/T7KzowPTAAAAAAJ\"","id":"`...)
	b = append(b, id...)
	b = append(b, `","createdDateTime":"`...)
	b = sent.AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, `","sentDateTime":"`...)
	b = sent.AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, `","receivedDateTime":"`...)
	b = sent.Add(time.Second).AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, `","hasAttachments":false,"internetMessageId":`...)
	b = schemas.AppendJSONString(b, imid)
	b = append(b, `,"subject":`...)
	b = schemas.AppendJSONString(b, subject)
	b = append(b, `,"importance":"normal","conversationId":"AAQkAGI2TG93`...)
	b = strconv.AppendUint(b, e.Seq, 36)
	b = append(b, `","isRead":true,"isDraft":false,"from":`...)
	b = addr(b, fromName, fromAddr)
	b = append(b, `,"sender":`...)
	b = addr(b, fromName, fromAddr)
	b = append(b, `,"toRecipients":[`...)
	b = addr(b, toName, toAddr)
	return append(b, `],"ccRecipients":[],"bccRecipients":[]}`...)
}

func graphEventID(imid string, t schemas.Type) string {
	h := sha256.New()
	h.Write([]byte("imid\x00" + imid + "\x00" + t.String()))
	return "graph:" + hex.EncodeToString(h.Sum(nil)[:16])
}
