"""Domain, data and PostGIS provisioning for Rebuild Tracker. Never imports FastAPI."""
