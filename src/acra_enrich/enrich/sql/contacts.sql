-- Email verification cache: an address ZeroBounce has judged is never paid for again.

-- name: cached_verifications
SELECT email, status, sub_status, provider
FROM email_verification_cache
WHERE email = ANY(%(emails)s)

-- name: store_verification
INSERT INTO email_verification_cache (email, status, sub_status, provider, response, checked_at)
VALUES (%(email)s, %(status)s, %(sub_status)s, %(provider)s, %(response)s, now())
ON CONFLICT (email) DO UPDATE
SET status = EXCLUDED.status,
    sub_status = EXCLUDED.sub_status,
    provider = EXCLUDED.provider,
    response = EXCLUDED.response,
    checked_at = EXCLUDED.checked_at
