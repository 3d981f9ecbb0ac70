"""PostgreSQL server fixtures (filled in by the job-store work)."""
