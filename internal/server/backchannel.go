package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/myaccount/myaccount/internal/backchannel"
	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/internal/tracing"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
)

// newBackchannel builds the back-channel logout notifier and registers its delivery task on
// the outbox, so every instance's worker delivers logout tokens; lost names a given-up one
// on its person (account.Service.Lost).
func newBackchannel(store storage.Store, outbox *mail.Outbox, km *keys.Manager, tp *tracing.Provider, issuer string,
	lost func(ctx context.Context, userID, typ, clientID, detail string), log *slog.Logger) *backchannel.Service {
	bc := backchannel.New(backchannel.Service{Store: store, Queue: outbox, Keys: km, Issuer: issuer, Lost: lost, Logger: log})
	outbox.Handle(backchannel.TaskKind, traceTask(tp, backchannel.TaskKind, bc.Deliver))
	outbox.OnGivenUpOf(backchannel.TaskKind, bc.GivenUp)
	return bc
}

// BackchannelNotifier is the notifier for the CLI's sign-outs (user signout, user lock): it
// queues the logout tokens in the shared outbox, sealed like the server's, and the running
// servers' workers mint and deliver them (it has no signing keys and delivers nothing). tx is
// the transaction of the sign-out: the master key is read through it when the configuration
// names none and its file is missing, and the notifier serves that transaction only.
func BackchannelNotifier(ctx context.Context, cfg *config.Config, tx storage.Store, log *slog.Logger) (sessions.Notifier, error) {
	mk, _, err := MasterKey(ctx, cfg, tx)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	sealer, err := keys.NewSealer(mk)
	if err != nil {
		return nil, fmt.Errorf("outbox sealer: %w", err)
	}
	outbox, err := mail.NewOutbox(mail.OutboxConfig{Store: tx, Sender: mail.LogSender{Logger: log}, Sealer: sealer,
		Holder: "cli-" + secret.NewID(), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return backchannel.New(backchannel.Service{Store: tx, Queue: outbox,
		Issuer: strings.TrimSuffix(cfg.Issuer, "/"), Logger: log}), nil
}
