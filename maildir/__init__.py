"""Maildir spools, the mail <-> message mapping and the SMTP gateway (to come)."""
