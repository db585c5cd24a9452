"""Resource centers: the province center and one center per city, each over its region."""
