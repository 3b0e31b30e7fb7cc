"""LINE: webhook intake, the chat flow, and delivery of replies/pushes through the outbox."""
