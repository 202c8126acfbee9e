-- name: companies_by_status
SELECT status, count(*) FROM companies GROUP BY status ORDER BY count(*) DESC LIMIT 8

-- name: companies_by_industry
SELECT industry_norm, count(*) FROM companies GROUP BY industry_norm ORDER BY count(*) DESC LIMIT 8

-- name: sample_companies
-- md5 order: a stable spread of the sample rather than the first rows of one industry.
SELECT uen, name, industry_norm, incorporation_year, status FROM companies ORDER BY md5(uen) LIMIT 5
