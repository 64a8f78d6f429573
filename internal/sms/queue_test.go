package sms

import "github.com/myaccount/myaccount/internal/mail"

// The outbox must stay a txQueue: SendCode would otherwise count and queue apart, and a
// send that failed on our side would count against the person's limits.
var _ txQueue = (*mail.Outbox)(nil)
