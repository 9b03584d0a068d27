"""Mail: Maildir spools (the server's, kept for recipients that are away, and an agent's, for
asking while offline), the mail <-> message mapping, the SMTP gateway and dedupe."""
