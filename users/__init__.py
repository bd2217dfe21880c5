"""People who log in: how long a session lasts, the password policy, what a user is told at login, and the
audit events of logins, logouts, expired sessions and password changes."""
