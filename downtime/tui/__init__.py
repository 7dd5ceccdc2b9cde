"""The Textual app `downtime browse` (see app.make_app)."""
