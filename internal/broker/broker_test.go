package broker

import (
	"strings"
	"testing"
)

func TestValidateURLHidesPassword(t *testing.T) {
	err := validateURL("amqp://user:s3cret@host:5672/%zz")
	if err == nil {
		t.Fatal("accepted a broken url")
	}
	if got := err.Error(); strings.Contains(got, "s3cret") {
		t.Errorf("error %q shows the password", got)
	}
}
