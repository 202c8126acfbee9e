-- Windows are calendar hours/days in Asia/Singapore, the product's business time zone.

-- name: try_spend
INSERT INTO vendor_usage AS u (vendor, window_kind, window_start, units)
SELECT %(vendor)s, %(window)s,
       date_trunc(%(window)s, now() AT TIME ZONE 'Asia/Singapore') AT TIME ZONE 'Asia/Singapore',
       %(units)s
ON CONFLICT (vendor, window_kind, window_start) DO UPDATE
SET units = u.units + EXCLUDED.units, updated_at = now()
WHERE u.units + EXCLUDED.units <= %(cap)s
RETURNING u.units

-- name: refund
UPDATE vendor_usage
SET units = greatest(units - %(units)s, 0), updated_at = now()
WHERE vendor = %(vendor)s AND window_kind = %(window)s
  AND window_start = date_trunc(%(window)s, now() AT TIME ZONE 'Asia/Singapore') AT TIME ZONE 'Asia/Singapore'

-- name: used
SELECT units FROM vendor_usage
WHERE vendor = %(vendor)s AND window_kind = %(window)s
  AND window_start = date_trunc(%(window)s, now() AT TIME ZONE 'Asia/Singapore') AT TIME ZONE 'Asia/Singapore'
