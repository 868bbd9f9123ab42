"""Who may call, what and how often: authentication, permissions, CORS and the cross-site
guard, rate limits and stream quotas, body limits, audited writes, JSON refusals."""
