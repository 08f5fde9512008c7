"""Who may do what in which city: identity (tokens), roles and region scopes, write authority, audit."""
