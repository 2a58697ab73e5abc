"""Channel transports behind one interface (`base.Transport`): the sandbox (outbox), SMTP,
SMS providers (signed webhook, Twilio-compatible), APNs, FCM and the custom channel (webhook,
Lambda). `registry.Channels` builds them from the configuration; docs/channels.md describes
each one, its URL form and how its replies map to Pinpoint's DeliveryStatus."""
