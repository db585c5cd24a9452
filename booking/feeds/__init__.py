"""Calendar exports: a session's invitation and the secret subscription feeds."""
