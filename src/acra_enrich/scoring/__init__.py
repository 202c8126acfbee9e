"""Lead scoring for the nightly shortlist: a documented feature vector, a score, a bucket and a
one-to-two-sentence rationale, deterministic and explainable without any LLM.

The feature vector (`lead_features.features`), every value in [0, 1]:

| feature           | weight | value                                                                  |
|-------------------|--------|------------------------------------------------------------------------|
| icp_industry      | 0.15   | ICP industry matched (SSIC code or words): 1, else 0                    |
| icp_employees     | 0.08   | employee estimate in the ICP range: 1; unknown 0.5; outside 0          |
| icp_incorporation | 0.04   | incorporation year in the ICP range: 1; unknown 0.5; outside 0         |
| icp_district      | 0.04   | postal district among the ICP's: 1; unknown 0.5; other 0               |
| icp_keywords      | 0.06   | an ICP keyword in the name, industry or about text: 1, else 0          |
| website_found     | 0.12   | a verified website: 1, else 0                                          |
| verified_emails   | 0.15   | addresses ZeroBounce called valid: min(n, 2) / 2                       |
| decision_makers   | 0.12   | contacts whose title reads as a decision maker: min(n, 2) / 2          |
| hiring            | 0.06   | open positions found on the site: min(n, 5) / 5                        |
| tech_signals      | 0.06   | technologies seen on the site: min(n, 5) / 5                           |
| freshness         | 0.06   | enriched within ENRICH_RECHECK_DAYS: 1, falling to 0 at three times it |
| revenue           | 0.06   | revenue bucket <1M 0.25, 1M-10M 0.5, 10M-100M 0.75, 100M+ 1, unknown 0 |

An ICP criterion the tenant did not set is neutral (0.5) and never named in a rationale. The score is the weighted sum (the
weights add up to 1), so it rises with every feature. Buckets: High at 0.70 and above, Medium
at 0.45 and above, Low below. The rationale names the features that gave the most and, when
the score is not High, the ones that held it back most.

`companies.revenue_bucket` comes from `revenue.revenue_bucket` (its rule is documented there).
"""

from acra_enrich.scoring.features import FEATURES, LeadInputs, feature_vector, features_hash
from acra_enrich.scoring.revenue import REVENUE_BUCKETS, revenue_bucket
from acra_enrich.scoring.score import HIGH_AT, MEDIUM_AT, LeadScore, bucket_of, rationale, score, score_lead

__all__ = [
    "FEATURES", "HIGH_AT", "MEDIUM_AT", "REVENUE_BUCKETS", "LeadInputs", "LeadScore", "bucket_of", "feature_vector",
    "features_hash", "rationale", "revenue_bucket", "score", "score_lead",
]
