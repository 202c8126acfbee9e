-- Stage 6, persist: one transaction per company (see persist.py).

-- name: update_company
-- A poorer run never blanks a good value: every column keeps what it had when this run
-- found nothing. The website is replaced only by a verified domain. A stored phone this
-- run's pages label as a fax is no phone (earlier versions took faxes for phones).
UPDATE companies
SET website_domain     = coalesce(%(website_domain)s, website_domain),
    website_source     = CASE WHEN %(website_domain)s IS NOT NULL THEN %(website_source)s ELSE website_source END,
    website_confidence = CASE WHEN %(website_domain)s IS NOT NULL THEN %(website_confidence)s ELSE website_confidence END,
    about_text         = coalesce(%(about_text)s, about_text),
    employees_est      = coalesce(%(employees_est)s, employees_est),
    linkedin_url       = coalesce(%(linkedin_url)s, linkedin_url),
    hq_address         = coalesce(%(hq_address)s, hq_address),
    hq_postal_code     = coalesce(%(hq_postal_code)s, hq_postal_code),
    hq_city            = coalesce(%(hq_city)s, hq_city),
    hq_country         = coalesce(%(hq_country)s, hq_country),
    phone              = CASE WHEN %(phone)s::text IS NOT NULL THEN %(phone)s
                              WHEN phone = ANY(%(faxes)s::text[]) THEN NULL ELSE phone END,
    fax                = coalesce(%(fax)s, fax),
    tech_stack         = coalesce(%(tech_stack)s, tech_stack),
    jobs_count         = coalesce(%(jobs_count)s, jobs_count),
    revenue_stated_sgd  = coalesce(%(revenue_sgd)s, revenue_stated_sgd),
    revenue_stated_text = CASE WHEN %(revenue_sgd)s::bigint IS NOT NULL THEN %(revenue_text)s ELSE revenue_stated_text END,
    revenue_stated_url  = CASE WHEN %(revenue_sgd)s::bigint IS NOT NULL THEN %(revenue_url)s ELSE revenue_stated_url END,
    enriched_at        = now(),
    updated_at         = now()
WHERE company_id = %(company_id)s

-- name: insert_history
INSERT INTO company_enrichment_runs (
    run_id, tenant_id, job_id, company_id, status, about_text, public_emails, phones, faxes, tech_stack, jobs_count,
    linkedin_url, website_domain, fields, pages_fetched, degraded, error, duration_ms, corpus)
VALUES (
    %(run_id)s, %(tenant_id)s, %(job_id)s, %(company_id)s, %(status)s, %(about_text)s, %(public_emails)s, %(phones)s,
    %(faxes)s, %(tech_stack)s, %(jobs_count)s, %(linkedin_url)s, %(website_domain)s, %(fields)s, %(pages_fetched)s,
    %(degraded)s, %(error)s, %(duration_ms)s, %(corpus)s)
RETURNING id

-- name: upsert_lead_email
INSERT INTO lead_emails (company_id, email, source, source_url, verification_status, verified_at)
VALUES (%(company_id)s, %(email)s, %(source)s, %(source_url)s, %(verification_status)s,
        CASE WHEN %(verification_status)s <> 'unverified' THEN now() END)
ON CONFLICT (company_id, email) DO UPDATE
SET source_url = coalesce(EXCLUDED.source_url, lead_emails.source_url),
    verification_status = CASE WHEN EXCLUDED.verification_status <> 'unverified'
                               THEN EXCLUDED.verification_status ELSE lead_emails.verification_status END,
    verified_at = coalesce(EXCLUDED.verified_at, lead_emails.verified_at),
    updated_at = now()

-- name: upsert_contact
INSERT INTO contacts (company_id, contact_key, full_name, first_name, last_name, title, email, phone,
                      linkedin_url, source, source_url)
VALUES (%(company_id)s, %(contact_key)s, %(full_name)s, %(first_name)s, %(last_name)s, %(title)s, %(email)s,
        %(phone)s, %(linkedin_url)s, %(source)s, %(source_url)s)
ON CONFLICT (company_id, contact_key) DO UPDATE
SET full_name = coalesce(EXCLUDED.full_name, contacts.full_name),
    first_name = coalesce(EXCLUDED.first_name, contacts.first_name),
    last_name = coalesce(EXCLUDED.last_name, contacts.last_name),
    title = coalesce(EXCLUDED.title, contacts.title),
    email = coalesce(EXCLUDED.email, contacts.email),
    phone = coalesce(EXCLUDED.phone, contacts.phone),
    linkedin_url = coalesce(EXCLUDED.linkedin_url, contacts.linkedin_url),
    source_url = coalesce(EXCLUDED.source_url, contacts.source_url),
    updated_at = now()
RETURNING contact_id

-- name: record_domain_check
INSERT INTO domain_checks (company_id, outcome, domain, found_by, confidence, candidates, search_provider)
VALUES (%(company_id)s, %(outcome)s, %(domain)s, %(found_by)s, %(confidence)s, %(candidates)s, %(search_provider)s)
ON CONFLICT (company_id) DO UPDATE
SET outcome = EXCLUDED.outcome, domain = EXCLUDED.domain, found_by = EXCLUDED.found_by,
    confidence = EXCLUDED.confidence, candidates = EXCLUDED.candidates,
    search_provider = EXCLUDED.search_provider, checked_at = now()

-- name: recent_domain_check
SELECT outcome, domain FROM domain_checks
WHERE company_id = %(company_id)s AND checked_at > now() - make_interval(days => %(recheck_days)s)

-- name: cached_search
SELECT results, provider FROM search_cache
WHERE query = %(query)s AND fetched_at > now() - make_interval(days => %(recheck_days)s)

-- name: save_search
INSERT INTO search_cache (query, provider, results) VALUES (%(query)s, %(provider)s, %(results)s)
ON CONFLICT (query) DO UPDATE SET results = EXCLUDED.results, provider = EXCLUDED.provider, fetched_at = now()

-- name: company_by_uen
SELECT company_id, name, uen, website_domain FROM companies WHERE uen = %(key)s

-- name: company_by_domain
SELECT company_id, name, uen, website_domain FROM companies WHERE website_domain = %(key)s
ORDER BY company_id LIMIT 1
