// Package config loads, derives and validates MyAccount's runtime configuration.
//
// Configuration is layered so that the same binary works unconfigured (the embedded setup:
// SQLite in ./data, issuer http://localhost:8080, e-mail printed to the log) and in a container
// where secrets arrive through the environment or mounted files:
//
//  1. [Default] — compiled-in defaults, mirrored exactly by config.example.yaml at the repo root
//     (a test keeps the two in sync).
//  2. An optional YAML file, decoded strictly: an unknown or misspelt key is an error naming the
//     key and its line, because a silently ignored typo in a security setting (say
//     "trusted_proxy") is worse than refusing to start.
//  3. MYACCOUNT_* environment variables, which beat the file.
//  4. *_file indirection: master_key_file and mail.smtp.password_file are read and their
//     contents (minus the trailing newline) become master_key and mail.smtp.password, so secrets
//     can come from Docker/Kubernetes secret mounts instead of the environment or the file.
//  5. Derived defaults (database.url from data_dir), computed last so that an overridden
//     data_dir is honoured.
//  6. [Config.Validate], which reports every problem at once rather than one per restart.
//
// # Environment variables
//
// An empty variable counts as unset (the lookup function cannot tell the two apart), so the
// environment can override a value but cannot blank one out.
//
//	MYACCOUNT_ISSUER              issuer
//	MYACCOUNT_LISTEN              listen
//	MYACCOUNT_DATA_DIR            data_dir
//	MYACCOUNT_DATABASE_URL        database.url
//	MYACCOUNT_DATABASE_URL_FILE   database.url_file
//	MYACCOUNT_DATABASE_PREWARM    database.prewarm
//	MYACCOUNT_MASTER_KEY          keys.master_key
//	MYACCOUNT_MASTER_KEY_FILE     keys.master_key_file
//	MYACCOUNT_KEYS_OPENSSL        keys.openssl
//	MYACCOUNT_MAIL_FROM           mail.from
//	MYACCOUNT_SMTP_HOST           mail.smtp.host
//	MYACCOUNT_SMTP_PORT           mail.smtp.port
//	MYACCOUNT_SMTP_USERNAME       mail.smtp.username
//	MYACCOUNT_SMTP_PASSWORD       mail.smtp.password
//	MYACCOUNT_SMTP_PASSWORD_FILE  mail.smtp.password_file
//	MYACCOUNT_SMTP_STARTTLS       mail.smtp.starttls
//	MYACCOUNT_TRUSTED_PROXIES     security.trusted_proxies (comma-separated)
//	MYACCOUNT_PASSWORD_HASH_MEMORY_KIB security.password_hash_memory_kib
//	MYACCOUNT_PASSWORD_HASH_ITERATIONS security.password_hash_iterations
//	MYACCOUNT_LOG_LEVEL           log.level
//	MYACCOUNT_LOG_FORMAT          log.format
//	MYACCOUNT_METRICS_LISTEN      metrics.listen
//	MYACCOUNT_REGISTRATION_ENABLED registration.enabled
//	MYACCOUNT_LICENCES_RENEWAL_URL licences.renewal_url
//	MYACCOUNT_MFA_SMS             mfa.sms
//	MYACCOUNT_SMS_SENDER          sms.sender
//	MYACCOUNT_SMS_ALLOWED_COUNTRIES sms.allowed_countries (comma-separated)
//	MYACCOUNT_SMS_WEBHOOK_URL     sms.webhook.url
//	MYACCOUNT_SMS_WEBHOOK_SECRET  sms.webhook.secret
//	MYACCOUNT_SMS_WEBHOOK_SECRET_FILE sms.webhook.secret_file
//	MYACCOUNT_SMS_TWILIO_ACCOUNT_SID sms.twilio.account_sid
//	MYACCOUNT_SMS_TWILIO_AUTH_TOKEN sms.twilio.auth_token
//	MYACCOUNT_SMS_TWILIO_AUTH_TOKEN_FILE sms.twilio.auth_token_file
//	MYACCOUNT_SMS_TWILIO_FROM     sms.twilio.from
//	MYACCOUNT_TRACING_OTLP_ENDPOINT  tracing.otlp_endpoint
//	OTEL_EXPORTER_OTLP_ENDPOINT      tracing.otlp_endpoint (the standard variable; ours wins)
//	MYACCOUNT_TRACING_SAMPLE_RATIO   tracing.sample_ratio
//
// A secret and its *_FILE variant are treated as one setting: setting either in the environment
// replaces whichever form the YAML file used, while setting both in the same layer (both keys in
// the file, or both variables in the environment) is an error because neither can sensibly win.
//
// Relative paths (data_dir, *_file, ui.theme_dir, a SQLite database.url) are resolved against
// the process's working directory, not the config file's directory, matching what an operator
// typing them on the command line expects.
package config
