package app

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The console forwards acknowledgements with the endpoint's token, not
// the console's credentials.
func TestConsoleAckCarriesTheAckToken(t *testing.T) {
	var got string
	h := consoleAck(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("Authorization") }), "ack-token")
	r := httptest.NewRequest("POST", "/api/v1/alerts/x/ack", nil)
	r.SetBasicAuth("sales", "console-password")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got != "Bearer ack-token" {
		t.Errorf("forwarded Authorization %q", got)
	}
	if r.Header.Get("Authorization") == "Bearer ack-token" {
		t.Error("the caller's request was changed")
	}
	none := consoleAck(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("Authorization") }), "")
	none.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", nil))
	if got != "" {
		t.Errorf("without a token: %q", got)
	}
}
