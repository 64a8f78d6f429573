package account_test

import (
	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/mail"
)

// The account rules declare what they need of mail; the mail package's types must keep
// providing it. The outbox must stay a TaskQueue: StartReset would otherwise look the
// address up inside the request again, and its timing would tell accounts apart.
var (
	_ account.Mailer    = (*mail.Outbox)(nil)
	_ account.TaskQueue = (*mail.Outbox)(nil)
	_ account.Mailer    = mail.LogSender{}
	_ account.Renderer  = (*mail.Renderer)(nil)
)
