"""Signed events (webhooks): what happened to uploads, sent to the host's endpoints, signed to
the Standard Webhooks specification. ``models``: endpoints and deliveries; ``events``: what is
recorded when; ``signing``: secrets and signatures; ``delivery``: sending, retrying."""
