"""Webhook targets and their delivery, for every feature that calls a user's URL (alerts
now, screens next): `targets` decides whether a URL may be called and to which checked
address, `delivery` sends a signed POST there and reports a coarse outcome.

Invariant: webhooks never reach the server's own network. Internal addresses are refused
when a webhook is made and again at every delivery (unless `WEBHOOK_ALLOWED_HOSTS` lets an
operator's receiver through), the connection goes to the address that was checked, and
redirects are not followed."""
