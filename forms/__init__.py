"""Forms: downtime paperwork rendered from a snapshot (Jinja2 + WeasyPrint), QR-coded form ids,
the encrypted registry of issued forms, and printing through CUPS."""
